"""The GPUs an agent serves: detected through NVML, or simulated on request."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    model: str
    vram_gb: float
    cuda_version: str
    driver_version: str = ""
    compute_capability: str = ""
    simulated: bool = False

    def to_report(self) -> dict:
        data = asdict(self)
        return {key: data[key] for key in ("uuid", "model", "vram_gb", "cuda_version",
                                           "simulated")}


class BadSimulation(ValueError):
    pass


SIMULATED_CUDA = "12.4"


def simulated(spec: str, host: str) -> GpuInfo:
    """Parse ``NAME:VRAM_GB``. The UUID is derived from host and name, so a
    restarted agent comes back as the same GPU instead of a new one."""
    name, sep, vram = spec.rpartition(":")
    if not sep or not name.strip():
        raise BadSimulation(f"--simulate-gpu {spec!r}: write NAME:VRAM_GB, e.g. 'RTX 4090:24'")
    try:
        vram_gb = float(vram)
    except ValueError:
        raise BadSimulation(f"--simulate-gpu {spec!r}: VRAM_GB must be a number") from None
    if not 1 <= vram_gb <= 1024:
        raise BadSimulation(f"--simulate-gpu {spec!r}: VRAM_GB must be between 1 and 1024")
    digest = hashlib.sha256(f"{host}\0{name.strip()}".encode()).hexdigest()
    uuid = f"SIM-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return GpuInfo(index=0, uuid=uuid, model=name.strip(), vram_gb=vram_gb,
                   cuda_version=SIMULATED_CUDA, simulated=True)

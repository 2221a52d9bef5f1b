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


def simulated(spec: str, host: str) -> list[GpuInfo]:
    """Parse ``NAME:VRAM_GB[,NAME:VRAM_GB…]``, one simulated GPU each. The
    UUID is derived from host, name and position, so a restarted agent comes
    back with the same GPUs instead of new ones."""
    return [simulated_one(part.strip(), host, index)
            for index, part in enumerate(spec.split(","))]


def simulated_one(spec: str, host: str, index: int = 0) -> GpuInfo:
    name, sep, vram = spec.rpartition(":")
    if not sep or not name.strip():
        raise BadSimulation(f"--simulate-gpu {spec!r}: write NAME:VRAM_GB, e.g. 'RTX 4090:24' "
                            "(several GPUs: separate them with commas)")
    try:
        vram_gb = float(vram)
    except ValueError:
        raise BadSimulation(f"--simulate-gpu {spec!r}: VRAM_GB must be a number") from None
    if not 1 <= vram_gb <= 1024:
        raise BadSimulation(f"--simulate-gpu {spec!r}: VRAM_GB must be between 1 and 1024")
    # The first GPU keeps the identity a single simulated GPU always had.
    seed = f"{host}\0{name.strip()}" + (f"\0{index}" if index else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()
    uuid = f"SIM-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return GpuInfo(index=index, uuid=uuid, model=name.strip(), vram_gb=vram_gb,
                   cuda_version=SIMULATED_CUDA, simulated=True)

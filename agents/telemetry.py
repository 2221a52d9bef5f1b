"""Sampling the agent's GPUs for its heartbeat: NVML for real GPUs, steady
idle figures for simulated ones (which never touch NVML)."""

from __future__ import annotations

from agents import nvml
from agents.gpus import GpuInfo
from aima_tasks.kernel.telemetry import GpuSample

# What a simulated GPU reports: an idle card, cool, with the driver's share of memory.
SIMULATED_MEMORY_USED_GB = 0.3
SIMULATED_TEMPERATURE_C = 35
SIMULATED_POWER_W = 20.0


class Sampler:
    """The samples of each heartbeat, and the XID events of the real GPUs
    watched between them (see nvml.XidWatch)."""

    def __init__(self, gpus: list[GpuInfo]):
        self.gpus = gpus
        real = [gpu.uuid for gpu in gpus if not gpu.simulated]
        self.xids = nvml.XidWatch(real) if real else None

    def collect(self) -> list[GpuSample]:
        return collect(self.gpus, self.xids)

    def close(self) -> None:
        if self.xids is not None:
            self.xids.close()


def collect(gpus: list[GpuInfo], xids: nvml.XidWatch | None = None) -> list[GpuSample]:
    """One sample per GPU, in the order given; never raises for a GPU NVML cannot read."""
    real = [gpu for gpu in gpus if not gpu.simulated]
    measured = {s.uuid: s for s in nvml.sample(real, xids)} if real else {}
    return [simulated_sample(gpu) if gpu.simulated else measured[gpu.uuid] for gpu in gpus]


def simulated_sample(gpu: GpuInfo) -> GpuSample:
    return GpuSample(uuid=gpu.uuid, utilization_pct=0,
                     memory_used_gb=min(SIMULATED_MEMORY_USED_GB, gpu.vram_gb),
                     memory_total_gb=gpu.vram_gb, temperature_c=SIMULATED_TEMPERATURE_C,
                     power_w=SIMULATED_POWER_W, simulated=True)

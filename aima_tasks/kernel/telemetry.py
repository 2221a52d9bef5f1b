"""GPU telemetry: one sample per GPU with each agent heartbeat, and what a
sample says about its GPU (how hard it works, whether it has failed).

Plain data shared by both sides: the agent takes samples, the control plane
judges them, so every agent is judged by the same thresholds, kept here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from aima_tasks.kernel.classification import GpuActivity

# Idle: at most this much compute and this share of memory in use. A GPU
# with nothing running still holds a few hundred MB for the driver.
IDLE_MAX_UTILIZATION_PCT = 5
IDLE_MAX_MEMORY_SHARE = 0.10
# Busy: at least this much compute, or this share of memory taken: another
# job would wait for compute or not fit.
BUSY_MIN_UTILIZATION_PCT = 80
BUSY_MIN_MEMORY_SHARE = 0.90
# Overheating where NVML gives no slowdown threshold: above this. A fixed
# stand-in; a GPU that reports its threshold is judged by its own.
OVERHEAT_FALLBACK_C = 90
# The clock-limiting reasons a sample names (NVML's clocks event reasons that
# say the GPU protects itself; idle, sync boost and application clocks do not).
THROTTLE_REASONS = ("sw_thermal", "hw_thermal", "hw_slowdown", "sw_power", "hw_power_brake")


class GpuProcess(NamedTuple):
    pid: int
    used_memory_gb: float | None  # None: the driver does not say (e.g. Windows WDDM)


@dataclass(frozen=True)
class GpuSample:
    """One GPU's figures at one moment; None for a figure the GPU does not report."""

    uuid: str
    utilization_pct: int | None = None
    memory_used_gb: float | None = None
    memory_total_gb: float | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    slowdown_temperature_c: int | None = None
    # Why the GPU could not be read (e.g. "GPU is lost"); the figures are then None.
    error: str = ""
    simulated: bool = False
    # Health signals (see aima_tasks.kernel.gpu_health for what each means).
    # XID critical errors NVML reported since the sample before, oldest first.
    xids: tuple[int, ...] = ()
    # ECC errors since the driver loaded (NVML's volatile counters).
    ecc_corrected: int | None = None
    ecc_uncorrected: int | None = None
    # Why the clocks are held back now, by THROTTLE_REASONS names.
    throttle: tuple[str, ...] = ()
    # Memory pages retired for ECC errors, and whether more wait for a reset.
    retired_pages: int | None = None
    retirement_pending: bool | None = None
    # NVML answered GPU_IS_LOST: the card fell off the bus.
    lost: bool = False

    def to_report(self) -> dict[str, Any]:
        return {**asdict(self), "processes": [p._asdict() for p in self.processes],
                "xids": list(self.xids), "throttle": list(self.throttle)}

    @classmethod
    def from_report(cls, data: dict[str, Any]) -> GpuSample:
        processes = tuple(GpuProcess(p["pid"], p.get("used_memory_gb"))
                          for p in data.get("processes", ()))
        return cls(**{**data, "processes": processes, "xids": tuple(data.get("xids", ())),
                      "throttle": tuple(data.get("throttle", ()))})


def activity(sample: GpuSample) -> GpuActivity | None:
    """Idle, active or busy by the thresholds above; None when the sample has
    neither utilisation nor memory figures. A figure the GPU does not report
    counts as no load."""
    share = (sample.memory_used_gb / sample.memory_total_gb
             if sample.memory_used_gb is not None and sample.memory_total_gb else None)
    if sample.utilization_pct is None and share is None:
        return None
    utilization = sample.utilization_pct or 0
    share = share or 0.0
    if utilization >= BUSY_MIN_UTILIZATION_PCT or share >= BUSY_MIN_MEMORY_SHARE:
        return GpuActivity.BUSY
    if utilization <= IDLE_MAX_UTILIZATION_PCT and share <= IDLE_MAX_MEMORY_SHARE:
        return GpuActivity.IDLE
    return GpuActivity.ACTIVE


def slowdown_at(sample: GpuSample) -> float:
    """The temperature at which this GPU slows itself down (°C)."""
    if sample.slowdown_temperature_c is not None:
        return sample.slowdown_temperature_c
    return OVERHEAT_FALLBACK_C + 1


def failure(sample: GpuSample) -> str:
    """Why this sample shows a failed GPU, or "" for a healthy one: NVML could
    not read it, or it is at its slowdown temperature (above the fallback
    limit when NVML gives none)."""
    if sample.error:
        return sample.error
    temperature, slowdown = sample.temperature_c, sample.slowdown_temperature_c
    if temperature is None:
        return ""
    if slowdown is not None and temperature >= slowdown:
        return f"overheating: {temperature} °C, slowdown at {slowdown} °C"
    if slowdown is None and temperature > OVERHEAT_FALLBACK_C:
        return f"overheating: {temperature} °C, above {OVERHEAT_FALLBACK_C} °C"
    return ""

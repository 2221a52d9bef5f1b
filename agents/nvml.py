"""The only module that touches NVML (nvidia-ml-py's ``pynvml``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pynvml

from agents.gpus import GpuInfo
from aima_tasks.kernel.telemetry import GpuProcess, GpuSample

log = logging.getLogger(__name__)

T = TypeVar("T")
GB = 1024**3
# At most this many XID events read per GPU and sample: a storm of them must
# not hold the heartbeat up (the rest wait for the next sample).
MAX_EVENTS = 64
# NVML's clocks event reasons by the names samples use (kernel THROTTLE_REASONS).
CLOCK_REASONS = {
    "sw_thermal": pynvml.nvmlClocksEventReasonSwThermalSlowdown,
    "hw_thermal": pynvml.nvmlClocksEventReasonHwThermalSlowdown,
    "hw_slowdown": pynvml.nvmlClocksEventReasonHwSlowdown,
    "sw_power": pynvml.nvmlClocksEventReasonSwPowerCap,
    "hw_power_brake": pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
}


class NoDriver(RuntimeError):
    """No usable NVIDIA driver on this host."""


def _text(value: str | bytes) -> str:
    # Older NVML bindings return bytes, newer ones str.
    return value.decode() if isinstance(value, bytes) else value


def detect() -> list[GpuInfo]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NoDriver(f"no NVIDIA driver found (NVML: {exc})") from None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        cuda_version = f"{cuda // 1000}.{(cuda % 1000) // 10}"
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(GpuInfo(
                index=index, uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                model=_text(pynvml.nvmlDeviceGetName(handle)),
                vram_gb=round(memory.total / GB, 2), cuda_version=cuda_version,
                driver_version=driver, compute_capability=f"{major}.{minor}"))
        return gpus
    finally:
        pynvml.nvmlShutdown()


class XidWatch:
    """The XID critical errors of some GPUs, as NVML reports them: an event set
    per GPU, kept open with an NVML session of its own for the agent's life,
    so that no event between two samples is lost; read without waiting at
    each sample. A GPU that cannot report events is watched for nothing else."""

    def __init__(self, uuids: list[str]):
        self.sets: dict[str, Any] = {}
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError:
            self.open = False
            return
        self.open = True
        for uuid in uuids:
            events = None
            try:
                handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
                events = pynvml.nvmlEventSetCreate()
                pynvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError,
                                                events)
            except pynvml.NVMLError as exc:
                log.warning("GPU %s reports no XID events (NVML: %s)", uuid, exc)
                if events is not None:
                    pynvml.nvmlEventSetFree(events)
                continue
            self.sets[uuid] = events

    def drain(self, uuid: str) -> tuple[int, ...]:
        """The XIDs of ``uuid`` since the last call, oldest first."""
        events = self.sets.get(uuid)
        xids: list[int] = []
        while events is not None and len(xids) < MAX_EVENTS:
            try:
                data = pynvml.nvmlEventSetWait_v2(events, 0)
            except pynvml.NVMLError_Timeout:
                break  # none waiting
            except pynvml.NVMLError as exc:
                log.warning("reading GPU %s's XID events failed (NVML: %s)", uuid, exc)
                break
            if data.eventType & pynvml.nvmlEventTypeXidCriticalError:
                xids.append(int(data.eventData))
        return tuple(xids)

    def close(self) -> None:
        for events in self.sets.values():
            pynvml.nvmlEventSetFree(events)
        self.sets = {}
        if self.open:
            self.open = False
            pynvml.nvmlShutdown()


def sample(gpus: list[GpuInfo], xids: XidWatch | None = None) -> list[GpuSample]:
    """One sample per GPU, in order, with the XIDs ``xids`` saw since the last.
    A GPU NVML cannot read (lost, or no driver at all) yields a sample with
    its error instead of failing the others."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [GpuSample(uuid=gpu.uuid, error=f"NVML: {exc}") for gpu in gpus]
    try:
        return [_sample_one(gpu.uuid, xids.drain(gpu.uuid) if xids else ()) for gpu in gpus]
    finally:
        pynvml.nvmlShutdown()


def _sample_one(uuid: str, xids: tuple[int, ...]) -> GpuSample:
    try:
        # By UUID, not index: an index shifts when GPUs are added or removed,
        # and the UUID is how the control plane knows the GPU.
        handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        utilization = _unless_unsupported(pynvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _unless_unsupported(pynvml.nvmlDeviceGetMemoryInfo, handle)
        # Deprecated for nvmlDeviceGetTemperatureV, which older drivers lack.
        temperature = _unless_unsupported(pynvml.nvmlDeviceGetTemperature, handle,
                                          pynvml.NVML_TEMPERATURE_GPU)
        slowdown = _unless_unsupported(pynvml.nvmlDeviceGetTemperatureThreshold, handle,
                                       pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        milliwatts = _unless_unsupported(pynvml.nvmlDeviceGetPowerUsage, handle)
        processes = _unless_unsupported(pynvml.nvmlDeviceGetComputeRunningProcesses, handle)
        health = _health(handle)
    except pynvml.NVMLError_GpuIsLost as exc:
        return GpuSample(uuid=uuid, error=str(exc), xids=xids, lost=True)
    except pynvml.NVMLError as exc:
        return GpuSample(uuid=uuid, error=str(exc), xids=xids)
    return GpuSample(
        uuid=uuid, xids=xids, **health,
        utilization_pct=None if utilization is None else utilization.gpu,
        memory_used_gb=None if memory is None else round(memory.used / GB, 2),
        memory_total_gb=None if memory is None else round(memory.total / GB, 2),
        temperature_c=temperature, slowdown_temperature_c=slowdown,
        power_w=None if milliwatts is None else milliwatts / 1000,
        processes=tuple(GpuProcess(p.pid, _gb(p.usedGpuMemory)) for p in processes or ()))


def _health(handle: Any) -> dict[str, Any]:
    """ECC counts, throttling and page retirement; None where the GPU has none
    (ECC off, a consumer card, row remapping instead of page retirement), or
    the driver or the agent's user cannot read them: a health figure missing
    must not turn a working GPU into a failed one."""
    ecc = {kind: _unless_unreported(pynvml.nvmlDeviceGetTotalEccErrors, handle, error_type,
                                     pynvml.NVML_VOLATILE_ECC)
           for kind, error_type in (("ecc_corrected", pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                                    ("ecc_uncorrected",
                                     pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED))}
    reasons = _unless_unreported(_clock_reasons, handle) or 0
    retired = [_unless_unreported(pynvml.nvmlDeviceGetRetiredPages, handle, cause)
               for cause in (pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                             pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)]
    pending = _unless_unreported(pynvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)
    return {**ecc, "throttle": tuple(name for name, bit in CLOCK_REASONS.items() if reasons & bit),
            "retired_pages": None if None in retired else sum(len(p) for p in retired),
            "retirement_pending": None if pending is None
            else pending == pynvml.NVML_FEATURE_ENABLED}


def _clock_reasons(handle: Any) -> int:
    # The "throttle" name is deprecated for "event"; drivers before 535 know only it.
    try:
        return pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
    except pynvml.NVMLError_FunctionNotFound:
        return pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)


def _unless_unreported(read: Callable[..., T], *args) -> T | None:
    try:
        return read(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound,
            pynvml.NVMLError_NoPermission):
        return None


def _unless_unsupported(read: Callable[..., T], *args) -> T | None:
    """A figure this GPU does not report is None; any other NVML error is the GPU's."""
    try:
        return read(*args)
    except pynvml.NVMLError_NotSupported:
        return None


def _gb(size: int | None) -> float | None:
    return None if size is None else round(size / GB, 2)

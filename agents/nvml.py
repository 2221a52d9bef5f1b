"""The only module that touches NVML (nvidia-ml-py's ``pynvml``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pynvml

from agents.gpus import GpuInfo
from aima_tasks.kernel.telemetry import GpuProcess, GpuSample

T = TypeVar("T")
GB = 1024**3


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


def sample(gpus: list[GpuInfo]) -> list[GpuSample]:
    """One sample per GPU, in order. A GPU NVML cannot read (lost, or no driver
    at all) yields a sample with its error instead of failing the others."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [GpuSample(uuid=gpu.uuid, error=f"NVML: {exc}") for gpu in gpus]
    try:
        return [_sample_one(gpu.uuid) for gpu in gpus]
    finally:
        pynvml.nvmlShutdown()


def _sample_one(uuid: str) -> GpuSample:
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
    except pynvml.NVMLError as exc:
        return GpuSample(uuid=uuid, error=str(exc))
    return GpuSample(
        uuid=uuid,
        utilization_pct=None if utilization is None else utilization.gpu,
        memory_used_gb=None if memory is None else round(memory.used / GB, 2),
        memory_total_gb=None if memory is None else round(memory.total / GB, 2),
        temperature_c=temperature, slowdown_temperature_c=slowdown,
        power_w=None if milliwatts is None else milliwatts / 1000,
        processes=tuple(GpuProcess(p.pid, _gb(p.usedGpuMemory)) for p in processes or ()))


def _unless_unsupported(read: Callable[..., T], *args) -> T | None:
    """A figure this GPU does not report is None; any other NVML error is the GPU's."""
    try:
        return read(*args)
    except pynvml.NVMLError_NotSupported:
        return None


def _gb(size: int | None) -> float | None:
    return None if size is None else round(size / GB, 2)

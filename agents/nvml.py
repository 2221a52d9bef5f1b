"""The only module that touches NVML (nvidia-ml-py's ``pynvml``)."""

from __future__ import annotations

import pynvml

from agents.gpus import GpuInfo


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
                vram_gb=round(memory.total / 1024**3, 2), cuda_version=cuda_version,
                driver_version=driver, compute_capability=f"{major}.{minor}"))
        return gpus
    finally:
        pynvml.nvmlShutdown()

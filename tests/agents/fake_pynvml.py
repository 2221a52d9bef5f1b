"""NVML faked at pynvml's own functions, answering with pynvml's real types,
so ``agents/nvml.py`` runs unchanged on a host without a GPU.

What the real functions return (nvidia-ml-py 13.615.71, ``pynvml.py``):

- ``nvmlInit()`` / ``nvmlShutdown()``: reference counted; without a driver
  ``nvmlInit`` raises ``NVMLError_LibraryNotFound`` (or ``DriverNotLoaded``).
- ``nvmlDeviceGetCount()`` -> int; ``nvmlDeviceGetHandleByIndex(i)`` and
  ``nvmlDeviceGetHandleByUUID(uuid)`` -> an opaque ``c_nvmlDevice_t`` (an
  unknown UUID raises ``NVMLError_NotFound``).
- ``nvmlDeviceGetName`` / ``GetUUID`` -> str; ``GetCudaComputeCapability`` ->
  (major, minor); ``nvmlSystemGetDriverVersion()`` -> str;
  ``nvmlSystemGetCudaDriverVersion_v2()`` -> int, e.g. 12040.
- ``nvmlDeviceGetUtilizationRates`` -> ``c_nvmlUtilization_t`` (``.gpu``,
  ``.memory``: percent over the last sample period).
- ``nvmlDeviceGetMemoryInfo`` -> ``c_nvmlMemory_t`` (``.total``, ``.free``,
  ``.used``: bytes).
- ``nvmlDeviceGetTemperature(h, NVML_TEMPERATURE_GPU)`` and
  ``nvmlDeviceGetTemperatureThreshold(h, NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)``
  -> int °C.
- ``nvmlDeviceGetPowerUsage`` -> int milliwatts.
- ``nvmlDeviceGetComputeRunningProcesses`` -> a list of
  ``nvmlStructToFriendlyObject(c_nvmlProcessInfo_t)`` (``.pid``,
  ``.usedGpuMemory`` bytes, set to None where the driver does not know).
- ``nvmlDeviceGetTotalEccErrors(h, NVML_MEMORY_ERROR_TYPE_CORRECTED or
  _UNCORRECTED, NVML_VOLATILE_ECC or NVML_AGGREGATE_ECC)`` -> int (NotSupported
  where ECC is off or absent).
- ``nvmlDeviceGetCurrentClocksEventReasons`` (and the deprecated
  ``...ThrottleReasons``) -> an int of ``nvmlClocksEventReason*`` bits.
- ``nvmlDeviceGetRetiredPages(h, NVML_PAGE_RETIREMENT_CAUSE_*)`` -> a list of
  page addresses; ``nvmlDeviceGetRetiredPagesPendingStatus`` ->
  ``NVML_FEATURE_ENABLED`` or ``_DISABLED`` (NotSupported on consumer cards).
- ``nvmlEventSetCreate()`` -> an event set; ``nvmlDeviceRegisterEvents(h,
  types, set)``; ``nvmlEventSetWait_v2(set, timeout_ms)`` -> a
  ``c_nvmlEventData_t`` (``.eventType``, ``.eventData``: the XID), raising
  ``NVMLError_Timeout`` when no event came; ``nvmlEventSetFree(set)``. Only
  events after the registration are delivered.
- Any of them raises an ``NVMLError`` subclass: ``NVMLError_NotSupported``
  for a figure the GPU lacks, ``NVMLError_GpuIsLost`` ("GPU is lost") once the
  GPU fell off the bus (from the handle lookups too, NVML's docs say).

Here: each ``FakeGpu`` says its figures; ``errors`` maps a function name to
the NVMLError subclass it raises for that GPU, ``lost`` makes every call on it
raise GpuIsLost; ``FakeNvml.xid(gpu, code)`` raises an XID critical error
event on it.
``calls`` records each function called, and ``sessions`` the init/shutdown
balance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pynvml
import pytest

GB = 1024**3


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA RTX A5000"
    total_gb: float = 24
    used_gb: float = 0.4
    utilization_pct: int = 0
    temperature_c: int = 40
    slowdown_c: int = 90
    power_mw: int = 25_000
    # (pid, bytes used or None where the driver does not say)
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    compute_capability: tuple[int, int] = (8, 6)
    errors: dict[str, type[pynvml.NVMLError]] = field(default_factory=dict)
    lost: bool = False
    ecc_corrected: int = 0
    ecc_uncorrected: int = 0
    # nvmlClocksEventReason* bits
    clock_reasons: int = 0
    # Retired page addresses by NVML_PAGE_RETIREMENT_CAUSE_*
    retired_pages: dict[int, list[int]] = field(default_factory=dict)
    retirement_pending: bool = False


@dataclass
class FakeEventSet:
    # Event types registered, by GPU UUID.
    registered: dict[str, int] = field(default_factory=dict)
    waiting: list[pynvml.c_nvmlEventData_t] = field(default_factory=list)


class FakeNvml:
    def __init__(self) -> None:
        self.gpus: list[FakeGpu] = []
        self.driver = True
        self.calls: list[str] = []
        self.sessions = 0
        self.event_sets: list[FakeEventSet] = []

    def add(self, uuid: str, **figures) -> FakeGpu:
        gpu = FakeGpu(uuid=uuid, **figures)
        self.gpus.append(gpu)
        return gpu

    def xid(self, gpu: FakeGpu, code: int) -> None:
        """The driver reports XID ``code`` on ``gpu``: every event set registered for it gets it."""
        for events in self.event_sets:
            if events.registered.get(gpu.uuid, 0) & pynvml.nvmlEventTypeXidCriticalError:
                events.waiting.append(pynvml.c_nvmlEventData_t(
                    eventType=pynvml.nvmlEventTypeXidCriticalError, eventData=code))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion",
                     "nvmlSystemGetCudaDriverVersion_v2", "nvmlDeviceGetCount",
                     "nvmlEventSetCreate", "nvmlEventSetWait_v2", "nvmlEventSetFree"):
            monkeypatch.setattr(pynvml, name, self._recorded(name, getattr(self, name)))
        for name in ("nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByUUID"):
            monkeypatch.setattr(pynvml, name, self._recorded(name, getattr(self, name)))
        for name in ("nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetCudaComputeCapability",
                     "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo",
                     "nvmlDeviceGetTemperature", "nvmlDeviceGetTemperatureThreshold",
                     "nvmlDeviceGetPowerUsage", "nvmlDeviceGetComputeRunningProcesses",
                     "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetCurrentClocksEventReasons",
                     "nvmlDeviceGetCurrentClocksThrottleReasons", "nvmlDeviceGetRetiredPages",
                     "nvmlDeviceGetRetiredPagesPendingStatus", "nvmlDeviceRegisterEvents"):
            monkeypatch.setattr(pynvml, name, self._on_device(name, getattr(self, name)))

    def _recorded(self, name, function):
        def call(*args):
            self.calls.append(name)
            return function(*args)
        return call

    def _on_device(self, name, function):
        def call(gpu: FakeGpu, *args):
            self.calls.append(name)
            if self.sessions < 1:
                raise pynvml.NVMLError_Uninitialized()
            if gpu.lost:
                raise pynvml.NVMLError_GpuIsLost()
            if name in gpu.errors:
                raise gpu.errors[name]()
            return function(gpu, *args)
        return call

    # --- the library ------------------------------------------------------
    def nvmlInit(self) -> None:
        if not self.driver:
            raise pynvml.NVMLError_LibraryNotFound()
        self.sessions += 1

    def nvmlShutdown(self) -> None:
        if self.sessions < 1:
            raise pynvml.NVMLError_Uninitialized()
        self.sessions -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        for gpu in self.gpus:
            if gpu.uuid == uuid:
                if gpu.lost:
                    raise pynvml.NVMLError_GpuIsLost()
                return gpu
        raise pynvml.NVMLError_NotFound()

    # --- one device (the handle is the FakeGpu) ---------------------------
    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        return gpu.name

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        return gpu.uuid

    def nvmlDeviceGetCudaComputeCapability(self, gpu: FakeGpu) -> tuple[int, int]:
        return gpu.compute_capability

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> pynvml.c_nvmlUtilization_t:
        return pynvml.c_nvmlUtilization_t(gpu=gpu.utilization_pct, memory=gpu.utilization_pct)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> pynvml.c_nvmlMemory_t:
        total, used = int(gpu.total_gb * GB), int(gpu.used_gb * GB)
        return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError_InvalidArgument()
        return gpu.temperature_c

    def nvmlDeviceGetTemperatureThreshold(self, gpu: FakeGpu, threshold: int) -> int:
        if threshold != pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
            raise pynvml.NVMLError_NotSupported()
        return gpu.slowdown_c

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return gpu.power_mw

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list:
        processes = []
        for pid, used in gpu.processes:
            info = pynvml.nvmlStructToFriendlyObject(pynvml.c_nvmlProcessInfo_t(
                pid=pid, usedGpuMemory=pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value
                if used is None else used))
            # As pynvml does for a size the driver does not know.
            if info.usedGpuMemory == pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
                info.usedGpuMemory = None
            processes.append(info)
        return processes


    def nvmlDeviceGetTotalEccErrors(self, gpu: FakeGpu, error_type: int, counter: int) -> int:
        if counter not in (pynvml.NVML_VOLATILE_ECC, pynvml.NVML_AGGREGATE_ECC):
            raise pynvml.NVMLError_InvalidArgument()
        if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED:
            return gpu.ecc_corrected
        if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return gpu.ecc_uncorrected
        raise pynvml.NVMLError_InvalidArgument()

    def nvmlDeviceGetCurrentClocksEventReasons(self, gpu: FakeGpu) -> int:
        return gpu.clock_reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        return gpu.clock_reasons

    def nvmlDeviceGetRetiredPages(self, gpu: FakeGpu, cause: int) -> list[int]:
        if not 0 <= cause < pynvml.NVML_PAGE_RETIREMENT_CAUSE_COUNT:
            raise pynvml.NVMLError_InvalidArgument()
        return list(gpu.retired_pages.get(cause, []))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, gpu: FakeGpu) -> int:
        return (pynvml.NVML_FEATURE_ENABLED if gpu.retirement_pending
                else pynvml.NVML_FEATURE_DISABLED)

    # --- events -------------------------------------------------------------
    def _live(self, events: FakeEventSet) -> FakeEventSet:
        if self.sessions < 1:
            raise pynvml.NVMLError_Uninitialized()
        if events not in self.event_sets:
            raise pynvml.NVMLError_InvalidArgument()
        return events

    def nvmlEventSetCreate(self) -> FakeEventSet:
        if self.sessions < 1:
            raise pynvml.NVMLError_Uninitialized()
        events = FakeEventSet()
        self.event_sets.append(events)
        return events

    def nvmlDeviceRegisterEvents(self, gpu: FakeGpu, types: int, events: FakeEventSet) -> None:
        live = self._live(events)
        live.registered[gpu.uuid] = live.registered.get(gpu.uuid, 0) | types

    def nvmlEventSetWait_v2(self, events: FakeEventSet,
                            timeout_ms: int) -> pynvml.c_nvmlEventData_t:
        live = self._live(events)
        if not live.waiting:
            raise pynvml.NVMLError_Timeout()  # without waiting: the tests never block
        return live.waiting.pop(0)

    def nvmlEventSetFree(self, events: FakeEventSet) -> None:
        self.event_sets.remove(self._live(events))


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNvml]:
    fake = FakeNvml()
    fake.install(monkeypatch)
    yield fake
    assert fake.sessions == 0, "NVML was initialised without a matching shutdown"
    assert not fake.event_sets, "an NVML event set was not freed"

"""agents/nvml.py over a faked pynvml: detection and telemetry samples."""

from __future__ import annotations

import pynvml
import pytest

from agents import nvml
from agents.gpus import GpuInfo
from aima_tasks.kernel.telemetry import GpuProcess, GpuSample

GB = 1024**3


def info(uuid: str, index: int = 0) -> GpuInfo:
    return GpuInfo(index=index, uuid=uuid, model="NVIDIA RTX A5000", vram_gb=24,
                   cuda_version="12.4")


def test_detect_reports_each_gpu(fake_nvml):
    fake_nvml.add("GPU-a", total_gb=24)
    fake_nvml.add("GPU-b", name="NVIDIA H100 80GB HBM3", total_gb=80, compute_capability=(9, 0))
    assert nvml.detect() == [
        GpuInfo(index=0, uuid="GPU-a", model="NVIDIA RTX A5000", vram_gb=24.0,
                cuda_version="12.4", driver_version="550.54.15", compute_capability="8.6"),
        GpuInfo(index=1, uuid="GPU-b", model="NVIDIA H100 80GB HBM3", vram_gb=80.0,
                cuda_version="12.4", driver_version="550.54.15", compute_capability="9.0")]


def test_detect_without_a_driver(fake_nvml):
    fake_nvml.driver = False
    with pytest.raises(nvml.NoDriver, match="no NVIDIA driver found"):
        nvml.detect()


def test_a_sample_carries_every_figure_in_plain_units(fake_nvml):
    fake_nvml.add("GPU-a", total_gb=24, used_gb=6, utilization_pct=42, temperature_c=67,
                  slowdown_c=91, power_mw=187_500, processes=[(4242, 5 * GB), (77, None)])
    assert nvml.sample([info("GPU-a")]) == [GpuSample(
        uuid="GPU-a", utilization_pct=42, memory_used_gb=6.0, memory_total_gb=24.0,
        temperature_c=67, power_w=187.5, slowdown_temperature_c=91,
        processes=(GpuProcess(4242, 5.0), GpuProcess(77, None)), ecc_corrected=0,
        ecc_uncorrected=0, retired_pages=0, retirement_pending=False)]


def test_figures_a_gpu_does_not_support_are_none_not_errors(fake_nvml):
    unsupported = ("nvmlDeviceGetPowerUsage", "nvmlDeviceGetTemperatureThreshold",
                   "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetComputeRunningProcesses",
                   "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetCurrentClocksEventReasons",
                   "nvmlDeviceGetRetiredPages", "nvmlDeviceGetRetiredPagesPendingStatus")
    fake_nvml.add("GPU-a", errors=dict.fromkeys(unsupported, pynvml.NVMLError_NotSupported))
    [sample] = nvml.sample([info("GPU-a")])
    assert (sample.power_w, sample.slowdown_temperature_c, sample.utilization_pct,
            sample.processes, sample.error) == (None, None, None, (), "")
    assert (sample.ecc_corrected, sample.ecc_uncorrected, sample.throttle, sample.retired_pages,
            sample.retirement_pending) == (None, None, (), None, None)
    assert (sample.memory_total_gb, sample.temperature_c) == (24.0, 40)


def test_a_lost_gpu_gives_an_error_sample_and_the_others_still_report(fake_nvml):
    fake_nvml.add("GPU-a", utilization_pct=10)
    fake_nvml.add("GPU-b", lost=True)
    first, lost = nvml.sample([info("GPU-a"), info("GPU-b", 1)])
    assert (first.uuid, first.utilization_pct, first.error) == ("GPU-a", 10, "")
    assert lost == GpuSample(uuid="GPU-b", error="GPU is lost", lost=True)


def test_an_error_reading_one_figure_is_the_gpus_error(fake_nvml):
    fake_nvml.add("GPU-a", errors={"nvmlDeviceGetTemperature": pynvml.NVMLError_GpuIsLost})
    fake_nvml.add("GPU-b", errors={"nvmlDeviceGetPowerUsage": pynvml.NVMLError_Unknown})
    assert nvml.sample([info("GPU-a"), info("GPU-b", 1)]) == [
        GpuSample(uuid="GPU-a", error="GPU is lost", lost=True),
        GpuSample(uuid="GPU-b", error="Unknown Error")]


def test_a_gpu_gone_from_the_host_is_an_error_sample(fake_nvml):
    [sample] = nvml.sample([info("GPU-gone")])
    assert sample == GpuSample(uuid="GPU-gone", error="Not Found")


def test_without_a_driver_every_gpu_gets_an_error_sample(fake_nvml):
    fake_nvml.driver = False
    samples = nvml.sample([info("GPU-a"), info("GPU-b", 1)])
    assert [(s.uuid, s.error) for s in samples] == [
        ("GPU-a", "NVML: NVML Shared Library Not Found"),
        ("GPU-b", "NVML: NVML Shared Library Not Found")]


# ---------------------------------------------------------------- health signals

def test_ecc_counts_throttling_and_retired_pages_are_read(fake_nvml):
    fake_nvml.add("GPU-a", ecc_corrected=12, ecc_uncorrected=1, retirement_pending=True,
                  clock_reasons=pynvml.nvmlClocksEventReasonSwThermalSlowdown
                  | pynvml.nvmlClocksEventReasonSwPowerCap | pynvml.nvmlClocksEventReasonGpuIdle,
                  retired_pages={
                      pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS: [0x1000],
                      pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: [0x2000, 0x3000]})
    [sample] = nvml.sample([info("GPU-a")])
    assert (sample.ecc_corrected, sample.ecc_uncorrected, sample.retired_pages,
            sample.retirement_pending) == (12, 1, 3, True)
    # Idle clocks are no throttling: only the reasons a GPU protects itself with.
    assert sample.throttle == ("sw_thermal", "sw_power")


def test_a_health_figure_the_driver_or_user_cannot_read_is_none_not_a_failed_gpu(fake_nvml):
    fake_nvml.add("GPU-a", errors={
        "nvmlDeviceGetRetiredPagesPendingStatus": pynvml.NVMLError_FunctionNotFound,
        "nvmlDeviceGetTotalEccErrors": pynvml.NVMLError_NoPermission})
    [sample] = nvml.sample([info("GPU-a")])
    assert (sample.error, sample.retirement_pending, sample.ecc_corrected) == ("", None, None)
    assert sample.retired_pages == 0


def test_an_older_driver_gives_its_throttle_reasons_under_the_old_name(fake_nvml):
    fake_nvml.add("GPU-a", clock_reasons=pynvml.nvmlClocksThrottleReasonHwThermalSlowdown,
                  errors={"nvmlDeviceGetCurrentClocksEventReasons":
                          pynvml.NVMLError_FunctionNotFound})
    [sample] = nvml.sample([info("GPU-a")])
    assert sample.throttle == ("hw_thermal",)


def test_xid_events_reach_the_next_sample_once_without_waiting(fake_nvml):
    a = fake_nvml.add("GPU-a")
    b = fake_nvml.add("GPU-b")
    fake_nvml.xid(a, 79)  # before the watch: NVML does not deliver it
    watch = nvml.XidWatch(["GPU-a", "GPU-b"])
    try:
        fake_nvml.xid(a, 31)
        fake_nvml.xid(a, 43)
        fake_nvml.xid(b, 48)
        first = nvml.sample([info("GPU-a"), info("GPU-b", 1)], watch)
        assert [s.xids for s in first] == [(31, 43), (48,)]
        # Read once: the next sample has none.
        assert [s.xids for s in nvml.sample([info("GPU-a")], watch)] == [()]
    finally:
        watch.close()
    assert "nvmlEventSetWait_v2" in fake_nvml.calls


def test_a_lost_gpu_still_reports_the_xid_that_lost_it(fake_nvml):
    gpu = fake_nvml.add("GPU-a")
    watch = nvml.XidWatch(["GPU-a"])
    try:
        fake_nvml.xid(gpu, 79)
        gpu.lost = True
        [sample] = nvml.sample([info("GPU-a")], watch)
    finally:
        watch.close()
    assert sample == GpuSample(uuid="GPU-a", error="GPU is lost", xids=(79,), lost=True)


def test_a_gpu_without_events_is_watched_for_nothing_else(fake_nvml):
    fake_nvml.add("GPU-a", errors={"nvmlDeviceRegisterEvents": pynvml.NVMLError_NotSupported})
    fake_nvml.add("GPU-b")
    watch = nvml.XidWatch(["GPU-a", "GPU-b"])
    try:
        assert set(watch.sets) == {"GPU-b"}
        assert [s.xids for s in nvml.sample([info("GPU-a"), info("GPU-b", 1)], watch)] == [(), ()]
    finally:
        watch.close()


def test_no_driver_no_watch(fake_nvml):
    fake_nvml.driver = False
    watch = nvml.XidWatch(["GPU-a"])
    assert watch.drain("GPU-a") == ()
    watch.close()

"""NVML health signals end to end: the fake pynvml raises them, the agent's
sampler reads them into its heartbeat, a real control plane classifies them
and answers which GPUs take work; the GPU's status, health and trail follow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pynvml
import pytest
from django.db.models import F

from agents import telemetry
from agents.control_plane import ControlPlane
from agents.gpus import GpuInfo
from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import GpuTelemetry, LocalGPU
from aima_web.fleet.services import create_enrollment_token
from tests.agents.fake_pynvml import FakeGpu, FakeNvml

GPU = GpuInfo(index=0, uuid="GPU-real", model="NVIDIA RTX A5000", vram_gb=24,
              cuda_version="12.4")
HEARTBEAT_S = 30


class Host:
    """An agent's heartbeat over the fake NVML: its sampler, its control plane."""

    def __init__(self, url: str, fake: FakeNvml):
        self.gpu: FakeGpu = fake.add(GPU.uuid)
        _, token = create_enrollment_token("t")
        self.control_plane = ControlPlane(url)
        self.control_plane.register({"name": "host-1", "gpus": [GPU.to_report()]}, token=token)
        self.sampler = telemetry.Sampler([GPU])

    def beat(self) -> dict:
        """One heartbeat; the samples kept before it are moved a heartbeat back in
        time, as if the agent beat every HEARTBEAT_S (the trend reads the clock)."""
        GpuTelemetry.objects.update(received_at=F("received_at") - timedelta(seconds=HEARTBEAT_S))
        answer = self.control_plane.heartbeat(
            [s.to_report() for s in self.sampler.collect()])
        return answer["gpus"][GPU.uuid]


@pytest.fixture
def host(live_server, fake_nvml) -> Iterator[Host]:
    host = Host(live_server.url, fake_nvml)
    yield host
    host.sampler.close()


def gpu() -> LocalGPU:
    return LocalGPU.objects.get(uuid=GPU.uuid)


def actions() -> list[str]:
    return list(AuditEvent.objects.filter(subject__startswith="gpu:").order_by("id")
                .values_list("action", flat=True))


def test_thermal_and_power_throttling_is_temporary_and_keeps_the_gpu(host):
    host.gpu.clock_reasons = (pynvml.nvmlClocksEventReasonSwThermalSlowdown
                              | pynvml.nvmlClocksEventReasonSwPowerCap)
    assert host.beat() == {"serve": True, "reason": ""}
    assert (gpu().status, gpu().health, gpu().health_reason) == (
        "available", "temporary", "clocks held back (sw_thermal, sw_power)")
    assert GpuTelemetry.objects.get().throttle == ["sw_thermal", "sw_power"]
    host.gpu.clock_reasons = 0
    assert host.beat()["serve"] and gpu().health == "healthy"
    assert actions() == []


def test_one_xid_is_temporary_and_a_repeated_one_fails_the_gpu(host, fake_nvml):
    fake_nvml.xid(host.gpu, 43)
    assert host.beat()["serve"] and gpu().health == "temporary"
    fake_nvml.xid(host.gpu, 43)
    host.beat()
    fake_nvml.xid(host.gpu, 43)
    assert host.beat() == {"serve": False,
                           "reason": "the GPU is failed: XID 43 3 times in 3 samples"}
    assert (gpu().status, gpu().health, gpu().health_reason) == (
        "failed", "persistent", "XID 43 3 times in 3 samples")
    assert [row.xids for row in GpuTelemetry.objects.order_by("received_at")] == [[43]] * 3


def test_uncorrectable_ecc_fails_the_gpu_until_a_reset_clears_the_count(host):
    host.gpu.ecc_uncorrected = 2
    assert host.beat()["serve"] is False
    assert (gpu().status, gpu().health) == ("failed", "persistent")
    assert host.beat()["serve"] is False  # the volatile count stays until the driver resets
    host.gpu.ecc_uncorrected = 0
    assert host.beat()["serve"] is True
    assert actions() == ["gpu.failed", "gpu.recovered"]


def test_pages_pending_retirement_fail_the_gpu(host):
    host.gpu.retirement_pending = True
    host.gpu.retired_pages = {pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: [0x10]}
    assert host.beat()["serve"] is False
    assert gpu().health_reason == "memory pages wait for retirement: the GPU needs a reset"
    row = GpuTelemetry.objects.get()
    assert (row.retired_pages, row.retirement_pending) == (1, True)


@pytest.mark.parametrize("fault, reason", [
    ("xid79", "XID 79: fallen off the bus"),
    ("lost", "the GPU is lost (fallen off the bus): GPU is lost"),
])
def test_a_critical_fault_drains_into_maintenance_and_alerts(host, fake_nvml, fault, reason):
    if fault == "xid79":
        fake_nvml.xid(host.gpu, 79)
    else:
        host.gpu.lost = True
    assert host.beat() == {"serve": False, "reason": f"the GPU is maintenance: {reason}"}
    assert (gpu().status, gpu().health, gpu().health_reason) == ("maintenance", "critical",
                                                                 reason)
    [alert] = AuditEvent.objects.filter(action="gpu.alert")
    assert alert.detail == {"uuid": GPU.uuid, "reason": reason, "status_before": "available"}
    # Healthy again: still in maintenance until an admin resumes it.
    host.gpu.lost = False
    assert host.beat()["serve"] is False and gpu().status == "maintenance"
    assert gpu().health == "healthy"


def test_a_rising_temperature_drains_the_gpu_before_it_fails_and_cooling_lifts_it(host):
    for degrees in (74, 77, 80):
        host.gpu.temperature_c = degrees
        assert host.beat()["serve"] is True
    host.gpu.temperature_c = 83  # 6 °C a minute: slowdown (90 °C) in about 70 s
    assert host.beat()["serve"] is False
    assert (gpu().health, gpu().health_reason) == (
        "temporary", "temperature rising 6.0 °C a minute: 83 °C, slowdown at 90 °C in about 70 s")
    for degrees in (80, 76, 72):
        host.gpu.temperature_c = degrees
        host.beat()
    assert (gpu().status, gpu().health) == ("available", "healthy")
    assert actions() == ["gpu.failed", "gpu.recovered"]

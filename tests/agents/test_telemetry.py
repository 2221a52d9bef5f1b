"""The agent's side of telemetry: samples for real and simulated GPUs, sent
with a heartbeat to a real control plane."""

from __future__ import annotations

import pytest

from agents import telemetry
from agents.control_plane import ControlPlane
from agents.gpus import GpuInfo
from aima_tasks.kernel import telemetry as judge
from aima_tasks.kernel.classification import GpuActivity
from aima_tasks.kernel.telemetry import GpuProcess, GpuSample
from aima_web.fleet.models import GpuTelemetry, LocalGPU
from aima_web.fleet.services import create_enrollment_token

REAL = GpuInfo(index=0, uuid="GPU-real", model="NVIDIA RTX A5000", vram_gb=24,
               cuda_version="12.4")
SIMULATED = GpuInfo(index=0, uuid="SIM-1", model="RTX 4090", vram_gb=24, cuda_version="12.4",
                    simulated=True)


def test_a_simulated_gpu_reports_idle_figures_without_touching_nvml(fake_nvml):
    fake_nvml.driver = False  # it would fail, if it were asked
    [sample] = telemetry.collect([SIMULATED])
    assert sample.simulated and sample.uuid == SIMULATED.uuid and not sample.error
    assert sample.memory_total_gb == 24
    assert judge.activity(sample) == GpuActivity.IDLE and judge.failure(sample) == ""
    assert fake_nvml.calls == []


def test_real_and_simulated_gpus_come_back_in_the_order_given(fake_nvml):
    fake_nvml.add("GPU-real", utilization_pct=95, used_gb=20)
    samples = telemetry.collect([SIMULATED, REAL])
    assert [(s.uuid, s.simulated) for s in samples] == [(SIMULATED.uuid, True),
                                                        ("GPU-real", False)]
    assert judge.activity(samples[1]) == GpuActivity.BUSY


def test_a_report_reads_back_as_the_same_sample():
    sample = GpuSample(uuid="GPU-1", utilization_pct=3, memory_used_gb=1.5,
                       memory_total_gb=24, temperature_c=50, power_w=61.5,
                       processes=(GpuProcess(7, 1.2), GpuProcess(8, None)),
                       slowdown_temperature_c=90)
    report = sample.to_report()
    assert report["processes"] == [{"pid": 7, "used_memory_gb": 1.2},
                                   {"pid": 8, "used_memory_gb": None}]
    assert GpuSample.from_report(report) == sample


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_carries_the_samples_to_the_control_plane(live_server, fake_nvml):
    fake_nvml.add("GPU-real", utilization_pct=30, used_gb=8, temperature_c=95, slowdown_c=90)
    _, token = create_enrollment_token("t")
    client = ControlPlane(live_server.url)
    client.register({"name": "host-1", "gpus": [gpu.to_report() for gpu in (REAL, SIMULATED)]},
                    token=token)

    answer = client.heartbeat([s.to_report() for s in telemetry.collect([REAL, SIMULATED])])

    # The overheating GPU is failed by its own sample, and told to take no more work.
    assert answer == {"gpus": {
        "GPU-real": {"serve": False,
                     "reason": "the GPU is failed: overheating: 95 °C, slowdown at 90 °C"},
        SIMULATED.uuid: {"serve": True, "reason": ""}}}
    rows = {row.gpu.uuid: row for row in GpuTelemetry.objects.select_related("gpu")}
    assert (rows["GPU-real"].activity, rows["GPU-real"].utilization_pct) == ("active", 30)
    assert rows["GPU-real"].failure.startswith("overheating")
    assert rows[SIMULATED.uuid].simulated and rows[SIMULATED.uuid].activity == "idle"
    assert LocalGPU.objects.get(uuid="GPU-real").status == "failed"
    # An agent with nothing to report still beats.
    assert client.heartbeat() == answer

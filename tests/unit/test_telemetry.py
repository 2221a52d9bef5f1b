"""What a telemetry sample says about its GPU: activity and failure."""

from __future__ import annotations

import pytest

from aima_tasks.kernel.classification import GpuActivity
from aima_tasks.kernel.telemetry import (
    BUSY_MIN_MEMORY_SHARE,
    BUSY_MIN_UTILIZATION_PCT,
    IDLE_MAX_MEMORY_SHARE,
    IDLE_MAX_UTILIZATION_PCT,
    OVERHEAT_FALLBACK_C,
    GpuSample,
    activity,
    failure,
)


def sample(utilization: int | None = 0, used: float | None = 0.4, total: float | None = 40,
           **more) -> GpuSample:
    return GpuSample(uuid="GPU-1", utilization_pct=utilization, memory_used_gb=used,
                     memory_total_gb=total, **more)


@pytest.mark.parametrize("utilization, used, expected", [
    (0, 0.4, GpuActivity.IDLE),
    (IDLE_MAX_UTILIZATION_PCT, IDLE_MAX_MEMORY_SHARE * 40, GpuActivity.IDLE),
    (IDLE_MAX_UTILIZATION_PCT + 1, 0.4, GpuActivity.ACTIVE),
    (0, IDLE_MAX_MEMORY_SHARE * 40 + 0.1, GpuActivity.ACTIVE),  # a model loaded, waiting
    (BUSY_MIN_UTILIZATION_PCT - 1, BUSY_MIN_MEMORY_SHARE * 40 - 0.1, GpuActivity.ACTIVE),
    (BUSY_MIN_UTILIZATION_PCT, 0.4, GpuActivity.BUSY),
    (0, BUSY_MIN_MEMORY_SHARE * 40, GpuActivity.BUSY),  # another job would not fit
    (None, 39, GpuActivity.BUSY),  # no utilisation figure: memory alone decides
    (90, None, GpuActivity.BUSY),
    (None, None, None),
])
def test_activity_thresholds(utilization, used, expected):
    assert activity(sample(utilization, used)) == expected


def test_no_activity_from_an_error_sample():
    assert activity(GpuSample(uuid="GPU-1", error="GPU is lost")) is None


def test_a_healthy_sample():
    assert failure(sample(temperature_c=70, slowdown_temperature_c=90)) == ""


def test_an_nvml_error_is_a_failure():
    assert failure(GpuSample(uuid="GPU-1", error="GPU is lost")) == "GPU is lost"


@pytest.mark.parametrize("temperature, slowdown, failed", [
    (89, 90, False), (90, 90, True), (95, 90, True),
    (86, 85, True),  # its own threshold rules, under the fallback too
    (OVERHEAT_FALLBACK_C, None, False), (OVERHEAT_FALLBACK_C + 1, None, True),
    (None, 90, False),
])
def test_overheating_is_a_failure(temperature, slowdown, failed):
    reason = failure(sample(temperature_c=temperature, slowdown_temperature_c=slowdown))
    assert bool(reason) == failed
    if failed:
        assert reason.startswith(f"overheating: {temperature} °C")

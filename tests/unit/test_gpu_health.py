"""The health table: each NVML signal in a GPU's recent samples to its class and action."""

from __future__ import annotations

import pytest

from aima_tasks.kernel.gpu_health import (
    ECC_BURSTS,
    HEALTHY,
    XID_REPEATS,
    Action,
    Health,
    Reading,
    classify,
)
from aima_tasks.kernel.telemetry import GpuSample

HEARTBEAT_S = 30.0


def window(*samples: GpuSample) -> list[Reading]:
    return [Reading(i * HEARTBEAT_S, s) for i, s in enumerate(samples)]


def cool(**signals) -> GpuSample:
    return GpuSample(uuid="GPU-1", temperature_c=45, slowdown_temperature_c=90, **signals)


def test_an_empty_or_quiet_window_is_healthy():
    assert classify([]) == HEALTHY
    assert classify(window(cool(), cool(ecc_corrected=3), cool(ecc_corrected=3))) == HEALTHY


@pytest.mark.parametrize("signals, reason", [
    ({"lost": True, "error": "GPU is lost"}, "the GPU is lost (fallen off the bus): GPU is lost"),
    ({"xids": (79,)}, "XID 79: fallen off the bus"),
    ({"xids": (13, 48)}, "XID 48: double-bit ECC error"),
    ({"xids": (64,)}, "XID 64: ECC page retirement or row remapping failed"),
    ({"xids": (74,)}, "XID 74: NVLink error"),
])
def test_critical_signals_drain_and_alert(signals, reason):
    verdict = classify(window(cool(), cool(**signals)))
    assert (verdict.health, verdict.action, verdict.reason) == (Health.CRITICAL, Action.ALERT,
                                                                reason)
    assert verdict.moves_work and not verdict.takes_work


def test_a_critical_xid_counts_in_the_newest_sample_only():
    # An admin resumed the GPU after the XID 79: the old sample must not drain it again.
    assert classify(window(cool(xids=(79,)), cool())) == HEALTHY


@pytest.mark.parametrize("samples, reason", [
    ((cool(), cool(ecc_uncorrected=2)), "2 uncorrectable ECC errors"),
    ((cool(retirement_pending=True),), "memory pages wait for retirement: the GPU needs a reset"),
    ((cool(xids=(43,)), cool(), cool(xids=(43,)), cool(xids=(43,))),
     f"XID 43 {XID_REPEATS} times in 4 samples"),
    (tuple(cool(ecc_corrected=n) for n in (0, 5, 9, 9, 20)),
     f"correctable ECC errors rose in {ECC_BURSTS} of 5 samples"),
    ((GpuSample(uuid="GPU-1", error="Unknown Error"),), "Unknown Error"),
])
def test_persistent_signals_rotate_the_work(samples, reason):
    verdict = classify(window(*samples))
    assert (verdict.health, verdict.action, verdict.reason) == (Health.PERSISTENT, Action.ROTATE,
                                                                reason)
    assert verdict.moves_work


@pytest.mark.parametrize("samples, reason", [
    ((cool(throttle=("sw_thermal",)),), "clocks held back (sw_thermal)"),
    ((cool(throttle=("sw_power", "hw_power_brake")),),
     "clocks held back (sw_power, hw_power_brake)"),
    ((cool(), cool(xids=(31,))), "XID 31 once: kept in service"),
    ((cool(ecc_corrected=0), cool(ecc_corrected=40)), "a burst of correctable ECC errors"),
])
def test_temporary_signals_keep_the_gpu_in_service(samples, reason):
    verdict = classify(window(*samples))
    assert (verdict.health, verdict.action, verdict.reason) == (Health.TEMPORARY, Action.KEEP,
                                                                reason)
    assert verdict.takes_work and not verdict.moves_work


def test_throttle_reasons_that_are_not_protection_are_healthy():
    assert classify(window(cool(throttle=("gpu_idle",)))) == HEALTHY


def test_at_slowdown_the_gpu_drains():
    verdict = classify(window(GpuSample(uuid="GPU-1", temperature_c=91, slowdown_temperature_c=90)))
    assert (verdict.health, verdict.action) == (Health.TEMPORARY, Action.DRAIN)
    assert verdict.reason == "overheating: 91 °C, slowdown at 90 °C"
    assert not verdict.takes_work and not verdict.moves_work


def temperatures(*degrees: int) -> list[Reading]:
    return window(*(GpuSample(uuid="GPU-1", temperature_c=c, slowdown_temperature_c=90)
                    for c in degrees))


def test_a_temperature_rising_toward_slowdown_drains_the_gpu_before_it_fails():
    verdict = classify(temperatures(74, 77, 80, 83))
    assert (verdict.health, verdict.action) == (Health.TEMPORARY, Action.DRAIN)
    assert verdict.reason == ("temperature rising 6.0 °C a minute: 83 °C, slowdown at 90 °C "
                              "in about 70 s")


@pytest.mark.parametrize("degrees", [
    (40, 55, 65, 72),   # warming up under a new load, far below slowdown
    (82, 82, 83, 82),   # hot but steady
    (85, 84, 83, 82),   # cooling
    (84, 86, 88),       # too few samples for a trend
    (80, 80, 80, 81),   # rising too slowly to reach slowdown within the horizon
])
def test_no_trend_no_drain(degrees):
    assert classify(temperatures(*degrees)) == HEALTHY

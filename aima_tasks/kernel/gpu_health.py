"""What a GPU's recent telemetry says about its health, and what to do about it.

Pure: the control plane calls :func:`classify` with a GPU's last samples when
a heartbeat brings a new one, and acts on the verdict
(``aima_web.fleet.health``). Every agent is judged by the same table:

==========================================  ==========  ======  ==============================
Signal (NVML)                               Class       Action  What the control plane does
==========================================  ==========  ======  ==============================
GPU lost (``NVMLError_GpuIsLost``)          critical    alert   drain into maintenance (an
XID 48 (double-bit ECC), 64 (ECC page                           admin resumes it), requeue its
retirement / row remap failure), 74                             units on another GPU, log an
(NVLink), 79 (fallen off the bus),                              error and audit ``gpu.alert``
95 (uncontained ECC)
Uncorrectable ECC errors (volatile count)   persistent  rotate  mark failed, requeue its units
Pages pending retirement                                        on another GPU; lifted by a
The same non-critical XID (31, 43, 45…)                         healthy sample (after a reset
  ``XID_REPEATS`` times in the window                           clears the counters)
Correctable ECC count rising in
  ``ECC_BURSTS`` samples of the window
NVML cannot read the GPU (other errors)
At or over the slowdown temperature         temporary   drain   mark failed: it takes no new
Temperature rising toward it (trend)                            work and finishes the unit at
                                                                hand; lifted when it cools
Thermal or power clock throttling           temporary   keep    stays in service, its unit at
One non-critical XID                                            hand carries on in place; the
One burst of correctable ECC errors                             health is recorded
==========================================  ==========  ======  ==============================

The window is the samples given, oldest first; the newest is the one just
received. Critical signals count in the newest sample only: the GPU stays in
maintenance until an admin resumes it, and an old XID in the window must not
drain it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from aima_tasks.kernel.telemetry import GpuSample, failure, slowdown_at

# How many samples a verdict looks back over, the newest included (ten
# heartbeats: five minutes at the agent's default 30 s).
WINDOW_SAMPLES = 10
# NVIDIA's XID catalogue: these mean the GPU itself is broken or gone.
CRITICAL_XIDS = frozenset({48, 64, 74, 79, 95})
XID_MEANINGS = {48: "double-bit ECC error", 64: "ECC page retirement or row remapping "
                "failed", 74: "NVLink error", 79: "fallen off the bus",
                95: "uncontained ECC error"}
# A non-critical XID (31 page fault, 43 stopped processing, 45 preemptive
# cleanup: often one application's fault) this often in the window: the GPU's.
XID_REPEATS = 3
# Correctable ECC errors rising in this many samples of the window: memory wearing out.
ECC_BURSTS = 3
# The temperature trend: over at least this many samples, rising at least this
# fast (°C per second), within this margin of slowdown, and reaching it within
# the horizon at that rate. A GPU warming up under a new load rises fast too,
# but far below its slowdown point.
TREND_MIN_SAMPLES = 4
TREND_MIN_SLOPE_C_PER_S = 0.01
TREND_MARGIN_C = 10
TREND_HORIZON_S = 300
THERMAL_REASONS = frozenset({"sw_thermal", "hw_thermal", "hw_slowdown"})
POWER_REASONS = frozenset({"sw_power", "hw_power_brake"})


class Health(StrEnum):
    HEALTHY = "healthy"
    TEMPORARY = "temporary"
    PERSISTENT = "persistent"
    CRITICAL = "critical"


class Action(StrEnum):
    KEEP = "keep"      # stays in service
    DRAIN = "drain"    # no new work, the unit at hand finishes; lifted when healthy
    ROTATE = "rotate"  # failed: its units go to another GPU; lifted when healthy
    ALERT = "alert"    # maintenance until an admin resumes it; its units go elsewhere


class Reading(NamedTuple):
    """A sample and when the control plane received it (seconds, any origin)."""

    at_s: float
    sample: GpuSample


@dataclass(frozen=True)
class Verdict:
    health: Health
    action: Action
    reason: str = ""

    @property
    def takes_work(self) -> bool:
        return self.action == Action.KEEP

    @property
    def moves_work(self) -> bool:
        """Its units must be sent to another GPU."""
        return self.action in (Action.ROTATE, Action.ALERT)


HEALTHY = Verdict(Health.HEALTHY, Action.KEEP)


def classify(window: Sequence[Reading]) -> Verdict:
    """The verdict on a GPU from its samples, oldest first (the newest last)."""
    if not window:
        return HEALTHY
    newest = window[-1].sample
    return (_critical(newest) or _persistent(window) or _drain(window)
            or _temporary(window) or HEALTHY)


def _critical(sample: GpuSample) -> Verdict | None:
    if sample.lost:
        return Verdict(Health.CRITICAL, Action.ALERT,
                       f"the GPU is lost (fallen off the bus){_detail(sample.error)}")
    critical = [xid for xid in sample.xids if xid in CRITICAL_XIDS]
    if critical:
        xid = critical[0]
        return Verdict(Health.CRITICAL, Action.ALERT, f"XID {xid}: {XID_MEANINGS[xid]}")
    return None


def _persistent(window: Sequence[Reading]) -> Verdict | None:
    newest = window[-1].sample
    reason = ""
    if newest.ecc_uncorrected:
        reason = f"{newest.ecc_uncorrected} uncorrectable ECC errors"
    elif newest.retirement_pending:
        reason = "memory pages wait for retirement: the GPU needs a reset"
    elif newest.error:
        reason = newest.error
    else:
        repeated = Counter(xid for reading in window for xid in reading.sample.xids
                           if xid not in CRITICAL_XIDS)
        often = [(xid, n) for xid, n in repeated.most_common() if n >= XID_REPEATS]
        if often:
            xid, n = often[0]
            reason = f"XID {xid} {n} times in {len(window)} samples"
        elif len(_corrected_bursts(window)) >= ECC_BURSTS:
            reason = (f"correctable ECC errors rose in {len(_corrected_bursts(window))} of "
                      f"{len(window)} samples")
    return Verdict(Health.PERSISTENT, Action.ROTATE, reason) if reason else None


def _drain(window: Sequence[Reading]) -> Verdict | None:
    hot = failure(window[-1].sample)
    if hot:
        return Verdict(Health.TEMPORARY, Action.DRAIN, hot)
    rising = _rising_toward_slowdown(window)
    return Verdict(Health.TEMPORARY, Action.DRAIN, rising) if rising else None


def _temporary(window: Sequence[Reading]) -> Verdict | None:
    newest = window[-1].sample
    throttle = [r for r in newest.throttle if r in THERMAL_REASONS | POWER_REASONS]
    if throttle:
        return Verdict(Health.TEMPORARY, Action.KEEP,
                       f"clocks held back ({', '.join(throttle)})")
    if newest.xids:
        return Verdict(Health.TEMPORARY, Action.KEEP,
                       f"XID {newest.xids[0]} once: kept in service")
    bursts = _corrected_bursts(window)
    if bursts and bursts[-1] == len(window) - 1:
        return Verdict(Health.TEMPORARY, Action.KEEP, "a burst of correctable ECC errors")
    return None


def _corrected_bursts(window: Sequence[Reading]) -> list[int]:
    """The indices of the samples whose correctable ECC count rose over the one before."""
    counts = [reading.sample.ecc_corrected for reading in window]
    return [i for i in range(1, len(counts))
            if counts[i] is not None and counts[i - 1] is not None and counts[i] > counts[i - 1]]


def _rising_toward_slowdown(window: Sequence[Reading]) -> str:
    """Why the temperature trend drains the GPU, or ''."""
    points = [(r.at_s, r.sample.temperature_c) for r in window
              if r.sample.temperature_c is not None]
    if len(points) < TREND_MIN_SAMPLES:
        return ""
    slope = _slope(points)
    newest = window[-1].sample
    limit = slowdown_at(newest)
    now_c = points[-1][1]
    if slope is None or slope < TREND_MIN_SLOPE_C_PER_S or now_c < limit - TREND_MARGIN_C:
        return ""
    reach_s = (limit - now_c) / slope
    if reach_s > TREND_HORIZON_S:
        return ""
    return (f"temperature rising {slope * 60:.1f} °C a minute: {now_c} °C, slowdown at "
            f"{limit:g} °C in about {reach_s:.0f} s")


def _slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares °C per second; None when all samples share one moment."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_c = sum(c for _, c in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (c - mean_c) for t, c in points) / spread


def _detail(error: str) -> str:
    return f": {error}" if error else ""

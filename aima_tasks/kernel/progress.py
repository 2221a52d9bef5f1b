"""How far a job is, and when it will end: the units of work it was cut into, weighted
by their estimated seconds, and an ETA that starts from the placement's estimate and
learns the job's real speed as its units finish.

Pure: the clock is a parameter (``now``), no Django. The control plane feeds it the
placement's runtime estimate and the results it has stored.

Monotonic by construction: a unit is done once (keyed by analysis and segment, its first
finish kept, as the control plane keeps a part's first stored result), so a unit
redelivered or redone after a failover cannot take work back; callers that remember
what they last showed pass it as ``shown`` and never see less (a floor, not a sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aima_tasks.kernel.analyses import catalogue

Span = tuple[float, float]
Part = tuple[str, int]

# The placement estimate counts as this many finished units of evidence: with one unit
# done the observed speed weighs 1/2, with ten 10/11. One unit measures a job's speed
# poorly (it also pays model loading), so the prior fades rather than vanishes; worth
# more than one unit it held the ETA near an estimate 4x too slow for most of the run
# (bench/progress_eta.py).
PRIOR_UNITS = 1.0
# Wall seconds per estimated second before anything is observed: the estimate itself.
PRIOR_RATIO = 1.0
# Weight of an analysis the catalogue no longer lists (a removed plugin).
UNKNOWN_WEIGHT = 1.0


@dataclass(frozen=True)
class Unit:
    """One analysis over one segment (segment 0: the whole media, or the first span)."""

    analysis: str
    segment: int
    estimated_s: float


@dataclass(frozen=True)
class Progress:
    fraction: float  # of estimated work, 0..1
    done: int
    total: int
    eta_seconds: float | None  # from now; None when nothing can be said
    eta_at: datetime | None

    def to_dict(self) -> dict:
        return {"fraction": round(self.fraction, 4), "done": self.done, "total": self.total,
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
                "eta_at": self.eta_at.isoformat() if self.eta_at else None,
                "unit": "analysis-segment"}


def plan(analyses: Sequence[str], spans: Sequence[Span], duration_s: float | None,
         runtime_s: float | None) -> list[Unit]:
    """The job's units with their estimated seconds.

    The placement stores one runtime for the whole job; it is shared out in proportion
    to each analysis' planning figure (``reference_s_per_unit``) times the media seconds
    the unit covers, the same shape the placement engine's runtime has. Without a
    runtime (not placed) the planning figures themselves are the estimate.
    """
    specs = catalogue().specs
    whole = max(duration_s or 0.0, 1.0)
    raw: list[Unit] = []
    for name in analyses:
        spec = specs.get(name)
        per_unit = spec.reference_s_per_unit if spec is not None else UNKNOWN_WEIGHT
        if spans and spec is not None and spec.segmentable:
            raw += [Unit(name, index, per_unit * max(end - start, 1e-3))
                    for index, (start, end) in enumerate(spans)]
        else:
            raw.append(Unit(name, 0, per_unit * whole))
    weight = sum(unit.estimated_s for unit in raw)
    if not runtime_s or runtime_s <= 0 or weight <= 0:
        return raw
    scale = runtime_s / weight
    return [Unit(u.analysis, u.segment, u.estimated_s * scale) for u in raw]


def first_finishes(finished: Iterable[tuple[str, int, datetime]]) -> dict[Part, datetime]:
    """Each part's earliest finish: a retried unit's second finish changes nothing."""
    found: dict[Part, datetime] = {}
    for analysis, segment, at in finished:
        key = (analysis, segment)
        if key not in found or at < found[key]:
            found[key] = at
    return found


def estimate(units: Sequence[Unit], done: Mapping[Part, datetime], started_at: datetime | None,
             now: datetime, shown: float = 0.0) -> Progress:
    """Fraction of estimated work done, counts, and the ETA at ``now``.

    The observed speed is wall seconds from the job's start to its latest finished unit
    per estimated second of the units finished by then: what a person waits for, so
    units run in parallel, the gaps between them and model loading all count, which
    per-unit durations would miss.
    """
    total_s = sum(unit.estimated_s for unit in units)
    finished = [unit for unit in units if (unit.analysis, unit.segment) in done]
    done_s = sum(unit.estimated_s for unit in finished)
    count, total = len(finished), len(units)
    if not units:
        return Progress(max(shown, 0.0), 0, 0, None, None)
    fraction = done_s / total_s if total_s > 0 else count / total
    fraction = min(1.0, max(fraction, shown))
    if count == total:
        last = max(done[(u.analysis, u.segment)] for u in finished)
        return Progress(1.0, count, total, 0.0, last)
    remaining_s = total_s - done_s
    if started_at is None:  # queued: the estimate alone, from now
        return _progress(fraction, count, total, now, now + _seconds(remaining_s * PRIOR_RATIO))
    anchor = max([started_at, *(done[(u.analysis, u.segment)] for u in finished)])
    ratio = _ratio(count, done_s, (anchor - started_at).total_seconds())
    eta_at = anchor + _seconds(remaining_s * ratio)
    if eta_at < now:
        # Overdue: slower than projected by at least elapsed/projected; stretch by that.
        projected = max((eta_at - started_at).total_seconds(), 1e-6)
        late = (now - started_at).total_seconds() / projected
        eta_at = now + _seconds(remaining_s * ratio * late)
    return _progress(fraction, count, total, now, eta_at)


def _ratio(count: int, done_s: float, elapsed_s: float) -> float:
    """Wall seconds per estimated second: the observed one blended with the prior.

    Geometrically: speed errors are factors (an estimate 4x too slow or 4x too fast), and
    an arithmetic mean would lean toward whichever of the two is larger.
    """
    if count == 0 or done_s <= 0 or elapsed_s <= 0:
        return PRIOR_RATIO
    observed = elapsed_s / done_s
    weight = count / (count + PRIOR_UNITS)
    return observed ** weight * PRIOR_RATIO ** (1 - weight)


def _progress(fraction: float, count: int, total: int, now: datetime,
              eta_at: datetime) -> Progress:
    return Progress(fraction, count, total, max(0.0, (eta_at - now).total_seconds()), eta_at)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)

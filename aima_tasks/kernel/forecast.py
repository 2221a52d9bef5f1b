"""Demand forecast from the job history (seed 003 §6.2, 004 §8.2): mean job
arrivals per GPU class and hour of the week.

The week is the unit because the demand AIMA sees is office work: weekdays
differ from weekends and mornings from nights, while one Tuesday is much like
the next. Hours of the week are counted in UTC (Monday 00:00 UTC = 0), so a
forecast is the same whatever zone the caller's clock is in.

Pure: arrivals in, a ``DemandForecast`` out; no clock, no database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

HOURS_PER_WEEK = 168
_HOUR_S = 3600.0
_WEEK_S = HOURS_PER_WEEK * _HOUR_S
# 1970-01-01 was a Thursday: Monday 1969-12-29 00:00 UTC is -3 days in POSIX time.
_EPOCH_MONDAY_S = -3 * 86400.0


def hour_of_week(moment: datetime) -> int:
    """0..167: the hour of the week of ``moment`` in UTC, Monday 00:00 = 0."""
    return _slot(_posix(moment))


def _posix(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment.timestamp()


def _slot(posix_s: float) -> int:
    return int(((posix_s - _EPOCH_MONDAY_S) % _WEEK_S) // _HOUR_S)


@dataclass(frozen=True)
class DemandForecast:
    """Mean arrivals per (GPU class, hour of the week) over the weeks observed."""

    # GPU class -> 168 means, index = hour of the week.
    means: Mapping[int, tuple[float, ...]]
    weeks: int
    # Hours of history actually observed (fewer than weeks x 168 for a young history).
    observed_hours: float
    # GPU class -> 168 shares of the observed weeks that had any arrival in
    # that hour: how bursty it is (a burst every fourth Monday: 0.25).
    presence: Mapping[int, tuple[float, ...]] = field(default_factory=dict)
    classes: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(sorted(self.means)))

    def rate(self, gpu_class: int, moment: datetime) -> float:
        """Mean arrivals of ``gpu_class`` in the hour of the week holding ``moment``."""
        series = self.means.get(gpu_class)
        return series[hour_of_week(moment)] if series else 0.0

    def expected(self, gpu_class: int, start: datetime, seconds: float) -> float:
        """Expected arrivals of ``gpu_class`` in [start, start + seconds): each hour's
        mean, in proportion to the part of that hour the span covers."""
        series = self.means.get(gpu_class)
        if not series or seconds <= 0:
            return 0.0
        return sum(series[hour] * part / _HOUR_S for hour, part in _hours(_posix(start), seconds))

    def chance(self, gpu_class: int, start: datetime, seconds: float,
               share: float = 1.0) -> float:
        """The chance of at least one arrival of ``gpu_class`` (of which ``share``
        counts) in [start, start + seconds). Each hour is active in the share of
        weeks it had arrivals, at the rate that gives its mean, so that a burst
        seen once in four weeks is not taken for steady demand."""
        means, present = self.means.get(gpu_class), self.presence.get(gpu_class)
        if not means or not present or seconds <= 0 or share <= 0:
            return 0.0
        none = 1.0
        for hour, part in _hours(_posix(start), seconds):
            active = present[hour]
            if active > 0:
                rate = means[hour] * share / active
                none *= 1.0 - active * (1.0 - math.exp(-rate * part / _HOUR_S))
        return 1.0 - none

    def peak(self, gpu_class: int) -> float:
        series = self.means.get(gpu_class)
        return max(series) if series else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: what a decision that used the forecast cites."""
        return {
            "weeks": self.weeks,
            "observed_hours": round(self.observed_hours, 3),
            "hours_per_week": HOURS_PER_WEEK,
            "classes": {str(c): [round(v, 4) for v in self.means[c]] for c in self.classes},
            "presence": {str(c): [round(v, 4) for v in self.presence[c]]
                         for c in self.classes if c in self.presence},
        }


def forecast(arrivals: Iterable[tuple[datetime, int]], now: datetime, weeks: int = 4,
             since: datetime | None = None) -> DemandForecast:
    """The forecast from ``(arrival time, GPU class)`` pairs of the last ``weeks``
    weeks before ``now``; later or older arrivals are ignored.

    ``since``: when the history begins, if later than ``weeks`` ago. Each hour
    of the week is then averaged over the times it was actually observed, so a
    young history is not read as a quiet one.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be 1 or more, not {weeks}")
    end = _posix(now)
    begin = end - weeks * _WEEK_S
    if since is not None:
        begin = min(max(begin, _posix(since)), end)
    counts: dict[int, list[int]] = {}
    # (class, hour of the week) -> the weeks (by number) it had arrivals in.
    seen: dict[tuple[int, int], set[int]] = {}
    for moment, gpu_class in arrivals:
        at = _posix(moment)
        if begin <= at < end:
            hour = _slot(at)
            counts.setdefault(gpu_class, [0] * HOURS_PER_WEEK)[hour] += 1
            seen.setdefault((gpu_class, hour), set()).add(
                int((at - _EPOCH_MONDAY_S) // _WEEK_S))
    observed = _observed_hours(begin, end)
    means = {c: tuple(n / observed[h] if observed[h] > 0 else 0.0 for h, n in enumerate(row))
             for c, row in counts.items()}
    # An hour seen in part counts as one week seen: a young history's
    # presence is read from the whole hours it has.
    presence = {c: tuple(min(len(seen.get((c, h), ())) / max(observed[h], 1.0), 1.0)
                         for h in range(HOURS_PER_WEEK)) for c in counts}
    return DemandForecast(means=means, weeks=weeks, observed_hours=(end - begin) / _HOUR_S,
                          presence=presence)


def _hours(begin: float, seconds: float) -> list[tuple[int, float]]:
    """(hour of the week, seconds of it) for each hour [begin, begin + seconds) touches."""
    end = begin + seconds
    parts = []
    while begin < end:
        hour_end = (math.floor((begin - _EPOCH_MONDAY_S) / _HOUR_S) + 1) * _HOUR_S \
            + _EPOCH_MONDAY_S
        part = min(end, hour_end) - begin
        parts.append((_slot(begin), part))
        begin += part
    return parts


def _observed_hours(begin: float, end: float) -> list[float]:
    """How many times each hour of the week lies within [begin, end), in hours
    (an hour cut by either end counts in part)."""
    whole_weeks = (end - begin) // _WEEK_S
    observed = [whole_weeks] * HOURS_PER_WEEK
    cursor = begin + whole_weeks * _WEEK_S
    for hour, part in _hours(cursor, end - cursor):
        observed[hour] += part / _HOUR_S
    return observed


def utc(moment: float) -> datetime:
    """A POSIX time as an aware UTC datetime (the simulator's clock is POSIX seconds)."""
    return datetime.fromtimestamp(moment, UTC)

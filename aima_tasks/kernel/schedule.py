"""Availability schedules of local GPUs: weekly time windows in which a GPU
takes work (seed 003 §2.1, e.g. "Mon-Fri 18:00-08:00").

Syntax: ``24/7``, or windows separated by ``;``, each ``DAYS HH:MM-HH:MM``.
DAYS is ``daily``, a day (``Mon``), a range (``Mon-Fri``, ``Fri-Mon``) or a
comma list (``Sat,Sun``). A window whose end is not after its start runs past
midnight into the next day and belongs to the day it starts on; ``24:00`` is
the end of the day. Times are wall-clock times in the control plane's time
zone: callers pass ``now`` in that zone.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S
ALWAYS_TEXT = "24/7"

_WINDOW = re.compile(
    r"^(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


class ScheduleError(ValueError):
    """A schedule text that does not parse; the message says what to write."""


@dataclass(frozen=True)
class Schedule:
    """Open intervals in seconds of the week (Monday 00:00 = 0): sorted,
    merged, within one week (a window past Sunday midnight is split)."""

    intervals: tuple[tuple[int, int], ...]
    text: str = ALWAYS_TEXT
    always: bool = field(init=False, repr=False, compare=False)
    # Open seconds of the week before each interval starts, and in all.
    _before: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _ends: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Asked for every GPU in every placement: worked out once.
        object.__setattr__(self, "always", self.intervals == ((0, WEEK_S),))
        before = [0]
        for start, end in self.intervals:
            before.append(before[-1] + end - start)
        object.__setattr__(self, "_before", tuple(before))
        object.__setattr__(self, "_ends", tuple(end for _, end in self.intervals))

    def is_open(self, at: datetime) -> bool:
        offset = second_of_week(at)
        i = bisect_right(self._ends, offset)
        return i < len(self.intervals) and self.intervals[i][0] <= offset

    def wait_s(self, at: datetime, work_s: float = 0.0) -> float:
        """Seconds from ``at`` until the GPU is open after ``work_s`` seconds of
        open time have gone to work already queued ahead of the job."""
        return self.wait_from(second_of_week(at), work_s)

    def wait_from(self, offset: float, work_s: float = 0.0) -> float:
        """``wait_s`` for a moment given as seconds since Monday 00:00."""
        if self.always:
            return work_s
        weekly = self._before[-1]
        if not weekly:
            return float("inf")
        # Open time from the start of the week to ``at``, plus the queued work:
        # the job starts when that much open time has passed.
        i = bisect_right(self._ends, offset)
        consumed = self._before[i]
        if i < len(self.intervals) and self.intervals[i][0] < offset:
            consumed += offset - self.intervals[i][0]
        weeks, rest = divmod(consumed + work_s, weekly)
        j = bisect_right(self._before, rest) - 1
        start = weeks * WEEK_S + self.intervals[j][0] + (rest - self._before[j])
        return max(start - offset, 0.0)


ALWAYS = Schedule(((0, WEEK_S),))


def parse(text: str) -> Schedule:
    cleaned = " ".join(text.split())
    if cleaned.lower() in ("", ALWAYS_TEXT, "always"):
        return ALWAYS
    intervals: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in cleaned.split(";"))):
        match = _WINDOW.match(part)
        if not match:
            raise ScheduleError(
                f"{part!r} is not a time window; write e.g. 'Mon-Fri 18:00-08:00' "
                "(windows separated by ';', or 24/7)")
        start, end = _clock(match["start"], part), _clock(match["end"], part)
        length = end - start if end > start else end + DAY_S - start
        for day in _days(match["days"], part):
            begin = day * DAY_S + start
            if begin + length > WEEK_S:
                intervals.append((0, begin + length - WEEK_S))
                intervals.append((begin, WEEK_S))
            else:
                intervals.append((begin, begin + length))
    return Schedule(_merge(intervals), text=cleaned)


def _clock(value: str, part: str) -> int:
    hours, minutes = (int(x) for x in value.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ScheduleError(f"{value!r} in {part!r} is not a time of day (00:00 to 24:00)")
    return hours * 3600 + minutes * 60


def _days(spec: str, part: str) -> list[int]:
    spec = spec.lower()
    if spec == "daily":
        return list(range(7))
    days: list[int] = []
    for item in spec.split(","):
        ends = item.split("-")
        if len(ends) > 2 or any(end[:3] not in DAYS or len(end) < 3 for end in ends):
            raise ScheduleError(
                f"{item!r} in {part!r} is not a day; use Mon..Sun, a range like Mon-Fri, "
                "a list like Sat,Sun, or daily")
        first = DAYS.index(ends[0][:3])
        last = DAYS.index(ends[-1][:3])
        days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return sorted(set(days))


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def second_of_week(at: datetime) -> float:
    return (at.weekday() * DAY_S + at.hour * 3600 + at.minute * 60 + at.second
            + at.microsecond / 1e6)


def next_open(schedule: Schedule, at: datetime) -> datetime:
    return at + timedelta(seconds=schedule.wait_s(at))

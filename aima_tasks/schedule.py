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
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MIN = 7 * 24 * 60
ALWAYS_TEXT = "24/7"

_WINDOW = re.compile(
    r"^(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


class ScheduleError(ValueError):
    """A schedule text that does not parse; the message says what to write."""


@dataclass(frozen=True)
class Schedule:
    """Open intervals in minutes of the week (Monday 00:00 = 0), sorted, merged."""

    intervals: tuple[tuple[int, int], ...]
    text: str = ALWAYS_TEXT

    @property
    def always(self) -> bool:
        return self.intervals == ((0, WEEK_MIN),)

    def is_open(self, at: datetime) -> bool:
        minute = _minute_of_week(at)
        return any(start <= minute < end for start, end in self._unrolled())

    def wait_s(self, at: datetime, work_s: float = 0.0) -> float:
        """Seconds from ``at`` until the GPU is open after ``work_s`` seconds of
        open time have been spent on work already queued ahead."""
        if self.always:
            return work_s
        if not self.intervals:
            return float("inf")
        offset_s = _minute_of_week(at) * 60 + at.second + at.microsecond / 1e6
        remaining = work_s
        # Week -1 holds the tail of a window that started last Sunday.
        week = -1
        while True:
            for start_min, end_min in self.intervals:
                start = start_min * 60 + week * WEEK_MIN * 60
                end = end_min * 60 + week * WEEK_MIN * 60
                if end <= offset_s:
                    continue
                begin = max(start, offset_s)
                # Queued work is consumed only in open time; the job starts in
                # the first open moment after it is done.
                if remaining < end - begin:
                    return begin + remaining - offset_s
                remaining -= end - begin
            week += 1

    def _unrolled(self) -> tuple[tuple[int, int], ...]:
        # Windows that run past Sunday midnight continue on Monday.
        return self.intervals + tuple((s - WEEK_MIN, e - WEEK_MIN) for s, e in self.intervals
                                      if e > WEEK_MIN)


ALWAYS = Schedule(((0, WEEK_MIN),))


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
        length = end - start if end > start else end + 24 * 60 - start
        for day in _days(match["days"], part):
            begin = day * 24 * 60 + start
            intervals.append((begin, begin + length))
    return Schedule(_merge(intervals), text=cleaned)


def _clock(value: str, part: str) -> int:
    hours, minutes = (int(x) for x in value.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ScheduleError(f"{value!r} in {part!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


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
    if len(merged) == 1 and merged[0][0] == 0 and merged[0][1] >= WEEK_MIN:
        return ALWAYS.intervals
    return tuple((s, e) for s, e in merged)


def _minute_of_week(at: datetime) -> int:
    return at.weekday() * 24 * 60 + at.hour * 60 + at.minute


def next_open(schedule: Schedule, at: datetime) -> datetime:
    return at + timedelta(seconds=schedule.wait_s(at))

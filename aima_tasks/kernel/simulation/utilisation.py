"""Local GPUs' idle time: the hours a usable GPU's schedule was open over the
trace with no work on it (the time off-peak deferral can fill)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from aima_tasks.kernel.classification import USABLE_GPU_STATUSES
from aima_tasks.kernel.placement import LocalGpu
from aima_tasks.kernel.schedule import WEEK_S, Schedule, second_of_week


def open_s(schedule: Schedule, begin: float, end: float, zone: tzinfo) -> float:
    """Seconds the schedule is open in [begin, end] (POSIX seconds, wall clock in ``zone``)."""
    if end <= begin:
        return 0.0
    return _open_since_monday(schedule, end, zone) - _open_since_monday(schedule, begin, zone) \
        + _weeks_between(begin, end, zone) * _weekly(schedule)


def _weekly(schedule: Schedule) -> float:
    return float(sum(stop - start for start, stop in schedule.intervals))


def _open_since_monday(schedule: Schedule, moment: float, zone: tzinfo) -> float:
    offset = second_of_week(datetime.fromtimestamp(moment, zone))
    return float(sum(min(stop, offset) - start for start, stop in schedule.intervals
                     if start < offset))


def _weeks_between(begin: float, end: float, zone: tzinfo) -> int:
    """Whole weeks from the Monday before ``begin`` to the Monday before ``end``."""
    def monday(moment: float) -> float:
        return moment - second_of_week(datetime.fromtimestamp(moment, zone))
    return round((monday(end) - monday(begin)) / WEEK_S)


def local_idle_s(gpus: Sequence[LocalGpu], busy: Sequence[Sequence[tuple[float, float]]],
                 begin: float, end: float, zone: tzinfo) -> float:
    """Open seconds of every usable GPU in [begin, end] less its work in them
    (``busy[gpu]``: (start, finish) of each job it ran; work that runs on past
    a window's close is no open time used)."""
    total = 0.0
    for gpu, runs in zip(gpus, busy, strict=True):
        schedule = gpu.schedule
        if gpu.status not in USABLE_GPU_STATUSES or not schedule.intervals:
            continue
        worked = sum(open_s(schedule, max(start, begin), min(stop, end), zone)
                     for start, stop in runs)
        total += max(open_s(schedule, begin, end, zone) - worked, 0.0)
    return total

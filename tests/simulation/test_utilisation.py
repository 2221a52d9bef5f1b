"""Local GPUs' idle time: open schedule hours with no work on them."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.schedule import parse
from aima_tasks.kernel.simulation.utilisation import local_idle_s, open_s

from .scenario import MONDAY
from .test_replay import local_gpu

HOUR = 3600.0
START = MONDAY.timestamp()
NIGHTS_AND_WEEKENDS = parse("Mon-Fri 18:00-08:00; Sat-Sun 00:00-24:00")


@pytest.mark.parametrize(("begin_h", "end_h", "open_h"), [
    (0, 168, 110),        # a week: five nights of 14 h, the weekend, Saturday's 8 h once
    (10, 20, 2),          # Monday 10:00-20:00: open from 18:00
    (145, 192, 23 + 6),   # Sunday 01:00 to Tuesday 00:00: closed Monday 00:00-18:00
    (0, 3 * 168, 330),    # three whole weeks
    (20, 20, 0),
])
def test_open_seconds_follow_the_schedule_across_weeks(begin_h, end_h, open_h):
    assert open_s(NIGHTS_AND_WEEKENDS, START + begin_h * HOUR, START + end_h * HOUR, UTC) \
        == pytest.approx(open_h * HOUR)


def test_idle_is_open_time_less_the_work_in_the_span():
    always = local_gpu()
    nights = local_gpu(gpu_id=8, schedule=NIGHTS_AND_WEEKENDS)
    broken = local_gpu(gpu_id=9, status=GpuStatus.MAINTENANCE)
    day = 24 * HOUR
    busy = [[(START + HOUR, START + 3 * HOUR)],          # two hours of work
            [(START - HOUR, START + 19 * HOUR)],         # runs past the span's start
            [(START, START + day)]]
    idle = local_idle_s([always, nights, broken], busy, START, START + day, UTC)
    # 24 - 2 on the 24/7 GPU; Monday's night window 18:00-24:00 less 18:00-19:00;
    # the GPU in maintenance is not counted.
    assert idle == pytest.approx((22 + 5) * HOUR)
    assert timedelta(seconds=idle) == timedelta(hours=27)

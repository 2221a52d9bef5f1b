"""Availability schedules: parsing, and the wait until a GPU takes a job,
checked against a minute-by-minute walk that reads the windows directly."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aima_tasks.kernel.schedule import ScheduleError, parse

MONDAY = datetime(2026, 11, 23)
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_always():
    for text in ("24/7", "", "daily 00:00-24:00", "Mon-Sun 00:00-00:00"):
        schedule = parse(text)
        assert schedule.always, text
        assert schedule.wait_s(MONDAY, 123.0) == 123.0


def test_evening_window():
    evenings = parse("Mon-Fri 18:00-08:00")
    assert not evenings.is_open(MONDAY + timedelta(hours=10))
    assert evenings.is_open(MONDAY + timedelta(hours=23))
    assert evenings.is_open(MONDAY + timedelta(days=5, hours=7))  # Saturday 07:00
    assert evenings.wait_s(MONDAY + timedelta(hours=10)) == 8 * 3600
    # Saturday noon: closed until Monday 18:00.
    assert evenings.wait_s(MONDAY + timedelta(days=5, hours=12)) == 54 * 3600
    # Tuesday 03:00 with two hours queued: the queue ends 05:00, still open.
    assert evenings.wait_s(MONDAY + timedelta(days=1, hours=3), 7200) == 7200
    # Tuesday 07:00 with two hours queued: one hour now, one from 18:00.
    assert evenings.wait_s(MONDAY + timedelta(days=1, hours=7), 7200) == 12 * 3600


def test_window_past_sunday_midnight_continues_on_monday():
    sunday_night = parse("Sun 22:00-06:00")
    assert sunday_night.is_open(MONDAY + timedelta(hours=5))
    assert not sunday_night.is_open(MONDAY + timedelta(hours=6))


@pytest.mark.parametrize("text, message", [
    ("Mo-Fr 18-8", "is not a time window"),
    ("Mon-Fri 25:00-08:00", "is not a time of day"),
    ("Mon-Fru 18:00-08:00", "is not a day"),
    ("Mon-Fri 18:00-08:00; weekends", "'weekends' is not a time window"),
])
def test_bad_schedules_say_what_to_write(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse(text)


# ---------------------------------------------------------------- against a reference

windows = st.lists(st.tuples(
    st.sets(st.integers(0, 6), min_size=1), st.integers(0, 23), st.integers(0, 23),
    st.sampled_from([0, 30])), min_size=1, max_size=3)


def text_of(spec) -> str:
    parts = []
    for days, start, end, minute in spec:
        names = ",".join(DAY_NAMES[d] for d in sorted(days))
        parts.append(f"{names} {start:02d}:{minute:02d}-{end:02d}:00")
    return "; ".join(parts)


def open_by_hand(spec, at: datetime) -> bool:
    day, minute = at.weekday(), at.hour * 60 + at.minute
    for days, start_h, end_h, start_m in spec:
        start, end = start_h * 60 + start_m, end_h * 60
        if start < end:
            if day in days and start <= minute < end:
                return True
        elif (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end):
            return True
    return False


def wait_by_hand(spec, at: datetime, work_min: int) -> int:
    minutes = 0
    while True:
        moment = at + timedelta(minutes=minutes)
        if open_by_hand(spec, moment):
            if work_min == 0:
                return minutes
            work_min -= 1
        minutes += 1


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(windows, st.integers(0, 7 * 24 * 60 - 1), st.integers(0, 3 * 24 * 60))
def test_wait_matches_a_minute_by_minute_walk(spec, start_min, work_min):
    schedule = parse(text_of(spec))
    at = MONDAY + timedelta(minutes=start_min)
    assert schedule.is_open(at) == open_by_hand(spec, at)
    assert schedule.wait_s(at, work_min * 60) == wait_by_hand(spec, at, work_min) * 60

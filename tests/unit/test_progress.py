"""The job progress and ETA logic, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aima_tasks.kernel import progress

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPANS = [(0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 400.0)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def four_units(runtime_s: float = 400.0) -> list[progress.Unit]:
    return progress.plan(["people"], SPANS, 400.0, runtime_s)


def test_plan_shares_the_placement_runtime_by_planning_figure_and_span():
    units = progress.plan(["people", "loudness"], [(0.0, 100.0), (100.0, 300.0)], 300.0, 100.0)
    # people (1.0 s per media second) is cut; loudness (0.004) runs once over 300 s.
    assert [(u.analysis, u.segment) for u in units] == [
        ("people", 0), ("people", 1), ("loudness", 0)]
    assert sum(u.estimated_s for u in units) == pytest.approx(100.0)
    people0, people1, loud = (u.estimated_s for u in units)
    assert people1 == pytest.approx(2 * people0)
    assert loud / people0 == pytest.approx(0.004 * 300 / 100)
    # Not placed yet: the planning figures themselves.
    assert [u.estimated_s for u in progress.plan(["people"], [], 50.0, None)] == [50.0]


def test_fraction_counts_estimated_work_not_units():
    units = progress.plan(["people", "loudness"], [(0.0, 100.0), (100.0, 300.0)], 300.0, 100.0)
    done = {("loudness", 0): at(1)}
    state = progress.estimate(units, done, T0, at(2))
    assert (state.done, state.total) == (1, 3)
    assert state.fraction == pytest.approx(1.2 / 301.2)  # loudness is the cheap one


def test_before_any_unit_the_eta_is_the_placement_estimate():
    units = four_units()
    queued = progress.estimate(units, {}, None, T0)
    assert queued.eta_seconds == pytest.approx(400.0) and queued.eta_at == at(400)
    running = progress.estimate(units, {}, T0, at(30))
    assert running.fraction == 0.0
    assert running.eta_at == at(400) and running.eta_seconds == pytest.approx(370.0)


def test_observed_speed_corrects_the_estimate_and_the_prior_fades():
    units = four_units()  # 100 estimated seconds each
    # The job runs twice as slow as estimated: one unit per 200 s.
    one = progress.estimate(units, {("people", 0): at(200)}, T0, at(200))
    # ratio = 2.0 ** (1/2) * 1.0 ** (1/2) over the 300 s left.
    assert one.eta_seconds == pytest.approx(300 * 2 ** 0.5)
    assert one.fraction == pytest.approx(0.25)
    three = progress.estimate(
        units, {("people", i): at(200 * (i + 1)) for i in range(3)}, T0, at(600))
    # ratio = 2.0 ** (3/4): closer to the observed 2.0 with more evidence.
    assert three.eta_seconds == pytest.approx(100 * 2 ** 0.75)
    assert (three.eta_at - at(600)).total_seconds() == pytest.approx(100 * 2 ** 0.75)
    # Between finishes the ETA counts down toward the same moment.
    later = progress.estimate(
        units, {("people", i): at(200 * (i + 1)) for i in range(3)}, T0, at(700))
    assert later.eta_at == three.eta_at
    assert later.eta_seconds == pytest.approx(100 * 2 ** 0.75 - 100)


def test_a_fast_job_is_not_held_back_by_a_slow_estimate():
    units = four_units()
    # Four times faster than estimated: two units in 50 s.
    two = progress.estimate(units, {("people", 0): at(25), ("people", 1): at(50)}, T0, at(50))
    assert two.eta_seconds == pytest.approx(200 * 0.25 ** (2 / 3))
    assert two.eta_seconds < 200 * (2 / 3 * 0.25 + 1 / 3)  # the arithmetic blend's


def test_an_overdue_eta_is_stretched_not_left_in_the_past():
    units = four_units()
    done = {("people", 0): at(100)}
    on_time = progress.estimate(units, done, T0, at(100))
    assert on_time.eta_at == at(400)
    late = progress.estimate(units, done, T0, at(800))
    assert late.eta_at > at(800) and late.eta_seconds > 0
    # Projected 400 s, 800 s elapsed: the 300 s left are stretched twice.
    assert late.eta_seconds == pytest.approx(600.0)


def test_a_retried_unit_never_lowers_progress():
    units = four_units()
    first = {("people", 0): at(100), ("people", 1): at(200)}
    before = progress.estimate(units, first, T0, at(250))
    # Failover: segment 1 is redone and finishes again later; its first finish stays.
    again = progress.first_finishes([("people", 0, at(100)), ("people", 1, at(200)),
                                     ("people", 1, at(900))])
    assert again == first
    after = progress.estimate(units, again, T0, at(950))
    assert after.fraction == before.fraction == pytest.approx(0.5)
    assert (after.done, after.total) == (2, 4)
    # A caller's remembered figure is a floor.
    assert progress.estimate(units, {}, T0, at(960), shown=0.5).fraction == 0.5


def test_all_units_done_is_one_hundred_percent_with_no_time_left():
    units = progress.plan(["people", "loudness"], SPANS, 400.0, 90.0)
    done = {(u.analysis, u.segment): at(10 * i) for i, u in enumerate(units, 1)}
    seen = []
    for count in range(len(units) + 1):
        part = dict(list(done.items())[:count])
        seen.append(progress.estimate(units, part, T0, at(10 * count + 1)).fraction)
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    end = progress.estimate(units, done, T0, at(999))
    assert end.to_dict() == {"fraction": 1.0, "done": 5, "total": 5, "eta_seconds": 0.0,
                             "eta_at": at(50).isoformat(), "unit": "analysis-segment"}


def test_a_job_with_no_units_says_nothing_about_time():
    empty = progress.estimate([], {}, None, T0)
    assert (empty.fraction, empty.done, empty.total, empty.eta_seconds) == (0.0, 0, 0, None)

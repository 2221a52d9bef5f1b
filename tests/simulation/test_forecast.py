"""kernel/forecast.py: mean arrivals per GPU class and UTC hour of the week."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from aima_tasks.kernel.forecast import HOURS_PER_WEEK, forecast, hour_of_week

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def test_hour_of_week_counts_from_monday_midnight_utc():
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + timedelta(hours=30, minutes=59)) == 30
    assert hour_of_week(MONDAY + timedelta(days=7) - timedelta(seconds=1)) == 167
    assert hour_of_week(MONDAY + timedelta(days=7)) == 0
    # The same instant in another zone is the same hour: counted in UTC.
    berlin = (MONDAY + timedelta(hours=9)).astimezone(timezone(timedelta(hours=1)))
    assert hour_of_week(berlin) == 9


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        hour_of_week(datetime(2026, 11, 23, 9))


def four_mondays_at_nine(extra: int = 0) -> list[tuple[datetime, int]]:
    """Two 24 GB jobs each Monday 09:xx for four weeks, plus ``extra`` 16 GB ones."""
    arrivals = []
    for week in range(4):
        nine = MONDAY + timedelta(weeks=week, hours=9)
        arrivals += [(nine + timedelta(minutes=10), 24), (nine + timedelta(minutes=40), 24)]
        arrivals += [(nine + timedelta(minutes=20), 16)] * extra
    return arrivals


def test_the_mean_is_per_class_and_hour_of_the_week():
    made = forecast(four_mondays_at_nine(extra=1), MONDAY + timedelta(weeks=4))
    assert made.means[24][9] == pytest.approx(2.0)
    assert made.means[16][9] == pytest.approx(1.0)
    assert sum(made.means[24]) == pytest.approx(2.0)
    assert made.classes == (16, 24)
    assert made.rate(24, MONDAY + timedelta(weeks=5, hours=9, minutes=59)) == pytest.approx(2.0)
    assert made.rate(80, MONDAY) == 0.0
    assert made.peak(24) == pytest.approx(2.0)


def test_expected_arrivals_take_each_hour_in_proportion():
    made = forecast(four_mondays_at_nine(), MONDAY + timedelta(weeks=4))
    next_monday = MONDAY + timedelta(weeks=4)
    # Half of 08:00-09:00 (none) and half of 09:00-10:00 (two an hour).
    assert made.expected(24, next_monday + timedelta(hours=8, minutes=30), 3600) \
        == pytest.approx(1.0)
    assert made.expected(24, next_monday, 7 * 86400) == pytest.approx(2.0)
    assert made.expected(24, next_monday, 0) == 0.0
    assert made.expected(16, next_monday, 86400) == 0.0


def test_only_the_last_weeks_before_now_count():
    arrivals = four_mondays_at_nine()
    later = [(MONDAY + timedelta(weeks=5, hours=9), 24)]  # after now: unknown yet
    made = forecast(arrivals + later, MONDAY + timedelta(weeks=4), weeks=2)
    # Weeks 3 and 4 only: two jobs each Monday at nine.
    assert made.means[24][9] == pytest.approx(2.0)
    assert made.observed_hours == pytest.approx(2 * HOURS_PER_WEEK)


def test_a_young_history_is_averaged_over_the_hours_it_covers():
    arrivals = four_mondays_at_nine()[:2]  # the first Monday only
    now = MONDAY + timedelta(days=1)
    made = forecast(arrivals, now, weeks=4, since=MONDAY)
    # Monday 09:00 was seen once, with two arrivals: two an hour, not a quarter of that.
    assert made.means[24][9] == pytest.approx(2.0)
    assert made.observed_hours == pytest.approx(24)
    without_since = forecast(arrivals, now, weeks=4)
    assert without_since.means[24][9] == pytest.approx(0.5)


def test_to_dict_is_plain_json_data():
    record = forecast(four_mondays_at_nine(), MONDAY + timedelta(weeks=4)).to_dict()
    assert record["weeks"] == 4
    assert record["hours_per_week"] == HOURS_PER_WEEK
    assert list(record["classes"]) == ["24"]
    assert len(record["classes"]["24"]) == HOURS_PER_WEEK
    assert record["classes"]["24"][9] == 2.0


def test_weeks_must_be_positive():
    with pytest.raises(ValueError, match="weeks"):
        forecast([], MONDAY, weeks=0)


def test_a_burst_seen_in_one_week_of_four_is_no_steady_demand():
    # Eight jobs on the first Monday at nine only; two every Monday at ten.
    burst = [(MONDAY + timedelta(hours=9, minutes=m), 24) for m in range(0, 40, 5)]
    steady = [(MONDAY + timedelta(weeks=w, hours=10, minutes=m), 24)
              for w in range(4) for m in (10, 40)]
    made = forecast(burst + steady, MONDAY + timedelta(weeks=4))
    assert made.means[24][9] == made.means[24][10] == pytest.approx(2.0)
    assert made.presence[24][9] == pytest.approx(0.25)
    assert made.presence[24][10] == pytest.approx(1.0)
    monday = MONDAY + timedelta(weeks=4)
    at_nine = made.chance(24, monday + timedelta(hours=9), 3600)
    at_ten = made.chance(24, monday + timedelta(hours=10), 3600)
    # Same mean, but nine o'clock is busy one week in four.
    assert at_nine == pytest.approx(0.25 * (1 - math.exp(-8)))
    assert at_ten == pytest.approx(1 - math.exp(-2))
    # Half the jobs counted: half the rate.
    assert made.chance(24, monday + timedelta(hours=10), 3600, share=0.5) \
        == pytest.approx(1 - math.exp(-1))
    # Across both hours: at least one unless both are empty.
    both = made.chance(24, monday + timedelta(hours=9), 7200)
    assert both == pytest.approx(1 - (1 - at_nine) * (1 - at_ten))
    assert made.chance(16, monday, 3600) == 0.0
    assert made.to_dict()["presence"]["24"][9] == 0.25

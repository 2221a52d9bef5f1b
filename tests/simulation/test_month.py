"""bench/make_trace.py's weekly pattern and deadlines, and the month-long
what-if run of bench/simulation/README.md: with pause, warm capacity and
off-peak deferral the month costs within 1.15 x the lower bound, no job late."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aima_tasks.kernel.simulation import load_fleet, load_offer_files, load_trace
from aima_tasks.kernel.simulation.options import VARIANTS
from aima_tasks.kernel.simulation.whatif import what_if

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "bench" / "simulation"
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday

# The README's month: 500 jobs over 31 days, seed 14.
MONTH_JOBS, MONTH_PER_DAY, MONTH_SEED = 500, 16.13, 14


def make_trace_module():
    spec = importlib.util.spec_from_file_location("make_trace", ROOT / "bench" / "make_trace.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def arrivals(records: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(r["arrival"]) for r in records]


def test_the_trace_has_a_weekly_pattern():
    records = make_trace_module().make_trace(2800, 5, START, 100.0)  # four weeks
    moments = arrivals(records)
    by_day = Counter(m.weekday() for m in moments)
    weekday = sum(by_day[d] for d in range(5)) / 5
    weekend = (by_day[5] + by_day[6]) / 2
    assert weekend < 0.6 * weekday
    office = sum(1 for m in moments if 8 <= m.hour < 18)
    assert office > 0.6 * len(moments)
    nights = sum(1 for m in moments if m.hour < 6)
    assert nights < 0.1 * len(moments)


def test_deadlines_follow_urgency_and_archives_get_a_week():
    module = make_trace_module()
    records = module.make_trace(600, 2, START, 50.0)
    # The last fifth of the ids are the archive ingests' videos.
    archive = {f"job-{n:06d}" for n in range(481, 601)}
    for record in records:
        if record["id"] in archive:
            assert record["deadline_s"] == 7 * 86400
        elif record["urgency"] == "high":
            assert "deadline_s" not in record
        else:
            assert record["deadline_s"] == {"low": 72 * 3600, "normal": 24 * 3600}[
                record["urgency"]]
    plain = module.make_trace(600, 2, START, 50.0, deadlines=False)
    assert [{k: v for k, v in r.items() if k != "deadline_s"} for r in records] == plain


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    records = make_trace_module().make_trace(MONTH_JOBS, MONTH_SEED, START, MONTH_PER_DAY)
    path = tmp_path_factory.mktemp("month") / "month.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    jobs = load_trace(path)
    return jobs, what_if(jobs, load_fleet(EXAMPLE / "fleet.json"),
                         load_offer_files([EXAMPLE / "offers.csv"]))


def test_the_month_spans_31_days_of_office_work(month):
    jobs, _ = month
    assert len(jobs) == MONTH_JOBS
    span_days = (jobs[-1].arrival_s - jobs[0].arrival_s) / 86400
    assert 30 < span_days < 31.5


def test_all_options_bring_the_month_within_the_bound_and_no_job_is_late(month):
    _, result = month
    outcomes = {o.name: o for o in result.outcomes}
    assert list(outcomes) == list(VARIANTS)
    bound = result.bound.total_cost
    for name, outcome in outcomes.items():
        assert outcome.past_deadline == 0, name
        assert outcome.violations == 0, (name, outcome.violations_by_rule)
        assert outcome.unfinished == 0, name
        assert outcome.refused == 0, name
    assert outcomes["+all"].total_cost <= 1.15 * bound
    # Today's behaviour is far from it: the saving is the options' doing.
    assert outcomes["today"].total_cost > 1.4 * bound
    # Deferral does it, by running on local GPUs what went to the cloud.
    assert outcomes["+offpeak"].deferred > 100
    assert outcomes["+offpeak"].placed_local > outcomes["today"].placed_local + 50
    assert outcomes["+offpeak"].cost_by_provider["local"] \
        > 5 * outcomes["today"].cost_by_provider["local"]

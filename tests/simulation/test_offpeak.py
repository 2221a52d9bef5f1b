"""kernel/offpeak.py: defer a low-urgency job to a cheaper later start, never
an urgent or confidential one, never past its deadline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_tasks.kernel.offpeak import (
    DeferralJob,
    DeferralPolicy,
    StartOption,
    Verdict,
    deadline_of,
    decide_deferral,
    latest_start,
    local_start,
    spot_price_by_hour,
    spot_starts,
)
from aima_tasks.kernel.schedule import Schedule, parse

MONDAY_10 = datetime(2026, 11, 23, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
CLOUD_NOW = StartOption(MONDAY_10, cost=2.00, runtime_s=3600, where="vastai H100 now")
TONIGHT = StartOption(MONDAY_10 + 8 * HOUR, cost=0.40, runtime_s=7200, where="local GPU #2")


def low(urgency: Urgency = Urgency.LOW, confidentiality: Confidentiality =
        Confidentiality.INTERNAL, deadline: datetime | None = None) -> DeferralJob:
    return DeferralJob(urgency, confidentiality, MONDAY_10, deadline)


def test_a_low_urgency_job_is_deferred_to_the_cheaper_night_start():
    deferral = decide_deferral(low(), MONDAY_10, CLOUD_NOW, [TONIGHT])
    assert deferral.defer
    assert deferral.code == Verdict.DEFERRED
    assert deferral.until == TONIGHT.start
    assert deferral.where == "local GPU #2"
    assert deferral.saving == pytest.approx(1.60)
    # The policy's default for low urgency: three days.
    assert deferral.deadline == MONDAY_10 + 72 * HOUR
    assert "local GPU #2" in deferral.reason and "1.60" in deferral.reason
    record = deferral.to_dict()
    assert record["code"] == "deferred_off_peak"
    assert record["until"] == TONIGHT.start.isoformat()


def test_an_urgent_job_is_never_deferred():
    deferral = decide_deferral(low(Urgency.HIGH, deadline=MONDAY_10 + 48 * HOUR), MONDAY_10,
                               CLOUD_NOW, [TONIGHT])
    assert not deferral.defer
    assert deferral.code == Verdict.URGENT


def test_a_confidential_job_is_never_deferred_it_queues():
    deferral = decide_deferral(low(confidentiality=Confidentiality.CONFIDENTIAL), MONDAY_10,
                               CLOUD_NOW, [TONIGHT])
    assert not deferral.defer
    assert deferral.code == Verdict.CONFIDENTIAL
    assert "queues" in deferral.reason


def test_a_start_that_would_finish_too_close_to_the_deadline_is_not_taken():
    # Tonight's start runs 2 h, plus 2 h of margin (as long again) and 30 min: 22:30.
    deadline = MONDAY_10 + 12 * HOUR
    deferral = decide_deferral(low(deadline=deadline), MONDAY_10, CLOUD_NOW, [TONIGHT])
    assert not deferral.defer
    assert deferral.code == Verdict.DEADLINE
    enough = MONDAY_10 + 12 * HOUR + 30 * timedelta(minutes=1)
    assert decide_deferral(low(deadline=enough), MONDAY_10, CLOUD_NOW, [TONIGHT]).defer


def test_a_stated_deadline_wins_over_the_policys_default():
    stated = MONDAY_10 + 7 * 24 * HOUR
    assert deadline_of(low(deadline=stated), DeferralPolicy()) == stated
    assert deadline_of(low(), DeferralPolicy()) == MONDAY_10 + 72 * HOUR
    assert deadline_of(low(Urgency.NORMAL), DeferralPolicy()) == MONDAY_10 + 24 * HOUR


def test_without_any_deadline_nothing_is_deferred():
    policy = DeferralPolicy(deadlines_s={Urgency.LOW: None})
    deferral = decide_deferral(low(), MONDAY_10, CLOUD_NOW, [TONIGHT], policy)
    assert not deferral.defer
    assert deferral.code == Verdict.NO_DEADLINE


def test_a_saving_too_small_is_not_worth_the_wait():
    almost = StartOption(TONIGHT.start, cost=1.95, runtime_s=7200, where="local GPU #2")
    deferral = decide_deferral(low(), MONDAY_10, CLOUD_NOW, [almost])
    assert not deferral.defer
    assert deferral.code == Verdict.NOT_CHEAPER


def test_a_start_now_or_earlier_is_no_deferral():
    now = StartOption(MONDAY_10, cost=0.10, runtime_s=60, where="local GPU #1")
    assert decide_deferral(low(), MONDAY_10, CLOUD_NOW, [now]).code == Verdict.DEADLINE


def test_never_past_the_deadline_whatever_the_options():
    rng = random.Random(3)
    policy = DeferralPolicy()
    for _ in range(500):
        urgency = rng.choice(list(Urgency))
        deadline = MONDAY_10 + timedelta(hours=rng.uniform(0.5, 100)) if rng.random() < 0.7 \
            else None
        job = low(urgency, rng.choice(list(Confidentiality)), deadline)
        later = [StartOption(MONDAY_10 + timedelta(hours=rng.uniform(0, 120)),
                             cost=rng.uniform(0, 3), runtime_s=rng.uniform(60, 20000),
                             where=f"option {i}") for i in range(rng.randint(0, 6))]
        deferral = decide_deferral(job, MONDAY_10, CLOUD_NOW, later, policy)
        if not deferral.defer:
            continue
        assert job.urgency != Urgency.HIGH
        assert job.confidentiality != Confidentiality.CONFIDENTIAL
        chosen = next(o for o in later if o.start == deferral.until and o.where == deferral.where)
        finish = chosen.start + timedelta(seconds=chosen.runtime_s * 2)
        assert finish <= deadline_of(job, policy) - timedelta(seconds=policy.margin_s)
        assert deferral.saving >= policy.min_saving


def test_latest_start_keeps_a_margin_of_the_runtime_and_a_fixed_part():
    deadline = MONDAY_10 + 10 * HOUR
    assert latest_start(deadline, 3600, DeferralPolicy()) == deadline - 2.5 * HOUR


def test_a_local_gpus_next_free_moment_follows_its_schedule_and_backlog():
    nights = parse("Mon-Fri 18:00-08:00")
    option = local_start(nights, 3600, MONDAY_10, 7200, 0.20, "local GPU #2")
    assert option is not None
    # Closed until 18:00, then an hour of queued work: free at 19:00.
    assert option.start == MONDAY_10 + 9 * HOUR
    assert option.cost == pytest.approx(0.40)
    assert local_start(Schedule(()), 0, MONDAY_10, 60, 1.0, "never open") is None


def test_spot_prices_by_hour_price_the_hours_a_run_spans():
    # Spot at 1.00 in office hours (08-18 UTC), 0.40 otherwise, one sample an hour for a week.
    monday = MONDAY_10.replace(hour=0)
    history = [(monday + h * HOUR, 1.0 if 8 <= h % 24 < 18 else 0.4) for h in range(168)]
    prices = spot_price_by_hour(history)
    assert len(prices) == 168
    starts = spot_starts(prices, MONDAY_10, 24 * 3600, runtime_s=7200, where="spot",
                         overhead_s=0)
    assert len(starts) == 24
    assert starts[0].start == MONDAY_10 + HOUR
    assert starts[0].cost == pytest.approx(2.0)  # 11:00-13:00 at 1.00
    cheapest = min(starts, key=lambda o: (o.cost, o.start))
    assert cheapest.start == MONDAY_10 + 8 * HOUR  # 18:00, the first night hour
    assert cheapest.cost == pytest.approx(0.8)
    # A job deferred to it saves the difference against spot now.
    deferral = decide_deferral(low(), MONDAY_10, StartOption(MONDAY_10, 2.0, 7200, "spot now"),
                               starts)
    assert deferral.defer and deferral.until == MONDAY_10 + 8 * HOUR


def test_hours_never_seen_in_the_history_are_no_option():
    prices = {hour_of: 0.5 for hour_of in range(10)}
    assert spot_starts(prices, MONDAY_10, 6 * 3600, 3600, "spot") == []

"""The idle policy: keep, pause or end an instance without a job, with its numbers."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from aima_tasks.kernel.idle_policy import (
    IdleAction,
    IdleFacts,
    arrival_chance,
    costs,
    decide,
    decide_paused,
)

# An A10 at 0.72/h whose 40 GB disk costs 0.10/GB-month paused (0.0055/h); a fresh
# launch takes 5 minutes, a resume 1.
FACTS = IdleFacts(price_per_hour=0.72, paused_price_per_hour=40 * 0.10 / 730, boot_s=300,
                  resume_s=60, expected_jobs=4.0, horizon_s=3600, idle_s=400,
                  idle_grace_s=300, pause_grace_s=3600)


def test_within_the_grace_or_with_queued_work_it_is_kept() -> None:
    assert decide(replace(FACTS, idle_s=100)).action == IdleAction.KEEP
    queued = decide(replace(FACTS, queued=True))
    assert queued.action == IdleAction.KEEP and queued.reason == "work of its class is queued"


def test_work_expected_soon_and_cheap_storage_pause_it_with_the_numbers() -> None:
    decision = decide(FACTS)
    assert decision.action == IdleAction.PAUSE
    pause, relaunch, _ = costs(FACTS)
    assert (decision.pause_cost, decision.relaunch_cost) == (pause, relaunch)
    assert relaunch == pytest.approx(0.72 * 300 / 3600)
    assert pause < relaunch
    # A job within the pause grace is near certain at 4 an hour: it saves the 240 s.
    assert decision.wait_saved_s == pytest.approx(240 * (1 - math.exp(-4)))
    assert decision.chance == pytest.approx(1 - math.exp(-4))
    record = decision.to_dict()
    assert record["action"] == "pause" and json.loads(json.dumps(record)) == record
    assert "costs less than a relaunch" in decision.reason


def test_without_pause_support_or_expected_work_it_is_terminated() -> None:
    cannot = decide(replace(FACTS, paused_price_per_hour=None))
    assert cannot.action == IdleAction.TERMINATE and "cannot pause" in cannot.reason
    assert cannot.pause_cost is None
    quiet = decide(replace(FACTS, expected_jobs=0.1))
    assert quiet.action == IdleAction.TERMINATE and "likely" in quiet.reason
    assert decide(replace(FACTS, expected_jobs=0.0)).chance == 0.0


def test_storage_dearer_than_the_boot_it_saves_terminates() -> None:
    # Storage at half the running price, a resume barely faster than a boot.
    dear = replace(FACTS, paused_price_per_hour=0.36, resume_s=290)
    decision = decide(dear)
    assert decision.action == IdleAction.TERMINATE
    assert decision.pause_cost >= decision.relaunch_cost
    assert "costs more" in decision.reason


def test_the_pause_cost_follows_the_formula() -> None:
    facts = replace(FACTS, expected_jobs=1.0, pause_grace_s=1800)
    rate = 1.0 / 3600
    within = 1 - math.exp(-rate * 1800)
    expected_paused_s = within / rate
    per_s = 0.72 / 3600
    want = (facts.paused_price_per_hour / 3600 * expected_paused_s + within * per_s * 60
            + (1 - within) * per_s * 300)
    assert costs(facts)[0] == pytest.approx(want)
    assert arrival_chance(1.0, 3600, 1800) == pytest.approx(within)


def test_a_paused_instance_ends_after_the_pause_grace() -> None:
    assert decide_paused(100, 3600) == IdleAction.KEEP
    assert decide_paused(3600, 3600) == IdleAction.TERMINATE

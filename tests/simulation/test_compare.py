"""Whole comparisons: the committed example, the baselines, the lower bound."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aima_tasks.kernel.placement import Policy, Strategy
from aima_tasks.kernel.simulation import compare, load_fleet, load_offer_files, load_trace
from aima_tasks.kernel.simulation.offers import OfferFile
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.report import to_json

from .scenario import MONDAY, estimate, fleet, job, offer
from .test_replay import local_gpu

EXAMPLE = Path(__file__).resolve().parents[2] / "bench" / "simulation"


@pytest.fixture(scope="module")
def example():
    jobs = load_trace(EXAMPLE / "trace.jsonl")
    the_fleet = load_fleet(EXAMPLE / "fleet.json")
    offers = load_offer_files([EXAMPLE / "offers.csv"])
    return jobs, the_fleet, offers, compare(jobs, the_fleet, offers, seed=0)


def test_the_example_replays_every_strategy_without_violations(example):
    jobs, _fleet, _offers, comparison = example
    outcomes = {o.name: o for o in comparison.outcomes}
    assert list(outcomes) == [*(s.value for s in Strategy), "b1_hyperscaler",
                              "b2_local_when_fits", "lower_bound"]
    for strategy in Strategy:
        outcome = outcomes[strategy.value]
        assert outcome.violations == 0, (strategy, outcome.violations_by_rule)
        assert outcome.placed_local + outcome.placed_cloud + outcome.refused == len(jobs)
        assert outcome.unfinished == 0
        assert outcome.total_cost == pytest.approx(sum(outcome.cost_by_provider.values()))


def test_the_example_is_worth_replaying(example):
    """The committed inputs exercise what they are meant to show."""
    jobs, the_fleet, offers, comparison = example
    specs = [j.spec for j in jobs]
    assert 150 <= len(jobs) <= 250
    assert {s.confidentiality.value for s in specs} == {"public", "internal", "confidential"}
    assert any(s.urgency.value == "high" for s in specs)
    assert sum(s.size_bytes > 10e9 for s in specs) >= 2
    assert {g.vram_gb for g in the_fleet.gpus} >= {16.0, 24.0}
    assert any(not g.schedule.always for g in the_fleet.gpus)
    assert any(o.provider == "aws" for o in offers.offers)
    outcomes = {o.name: o for o in comparison.outcomes}
    assert outcomes["balanced"].placed_cloud > 0
    assert outcomes["balanced"].placed_local > 0


def test_the_lower_bound_is_at_most_every_strategys_cost(example):
    _jobs, _fleet, _offers, comparison = example
    bound = next(o for o in comparison.outcomes if o.kind == Kind.BOUND)
    assert bound.wait_p50_s is None and bound.makespan_s is None
    for outcome in comparison.outcomes:
        if outcome.kind != Kind.BOUND:
            assert bound.total_cost <= outcome.total_cost + 1e-9, outcome.name


def test_same_seed_same_document(example):
    jobs, the_fleet, offers, comparison = example
    again = compare(jobs, the_fleet, offers, seed=0)
    assert to_json(again) == to_json(comparison)


def test_b1_counts_a_confidential_job_on_the_cloud_as_a_violation():
    gpu = local_gpu()
    the_fleet = fleet(gpu)
    secret = job("secret", MONDAY, confidentiality="confidential")
    open_job = job("open", MONDAY + timedelta(minutes=1))
    offers = OfferFile(offers=(offer(),), capacity={})
    outcomes = {o.name: o for o in compare([secret, open_job], the_fleet, offers).outcomes}

    b1 = outcomes["b1_hyperscaler"]
    assert b1.placed_cloud == 2
    assert b1.violations == 1
    assert b1.violations_by_rule == {"confidential_on_cloud": 1}
    for strategy in Strategy:
        assert outcomes[strategy.value].violations == 0
        assert outcomes[strategy.value].refused == 0
    # B2 keeps the hard rules too: both jobs fit the local GPU.
    assert outcomes["b2_local_when_fits"].placed_local == 2


def test_b1_cost_is_the_cheapest_hyperscaler_on_demand_price_for_boot_and_work():
    the_fleet = fleet(grace=0.0)
    cheap_elsewhere = offer(provider="vastai", instance_type="x", price_per_hour=0.1)
    aws_dear = offer(instance_type="big", price_per_hour=7.2)
    aws_cheap = offer(instance_type="small", price_per_hour=3.6)
    single = job("a", MONDAY)
    offers = OfferFile(offers=(cheap_elsewhere, aws_dear, aws_cheap), capacity={})
    b1 = next(o for o in compare([single], the_fleet, offers).outcomes
              if o.name == "b1_hyperscaler")
    runtime = estimate(single, "RTX4090")
    assert b1.cost_by_provider == {"aws": pytest.approx((100.0 + runtime) * 3.6 / 3600)}
    assert b1.label.startswith("B1: ")


def test_b1_falls_back_to_any_provider_and_says_so():
    offers = OfferFile(offers=(offer(provider="vastai"),), capacity={})
    b1 = next(o for o in compare([job("a", MONDAY)], fleet(), offers).outcomes
              if o.name == "b1_hyperscaler")
    assert b1.placed_cloud == 1
    assert "no aws/gcp/azure offers" in b1.label


def test_unplaceable_confidential_jobs_are_refused_not_violations():
    # No local GPU at all: a confidential job has nowhere to go.
    offers = OfferFile(offers=(offer(),), capacity={})
    jobs = [job("secret", MONDAY, confidentiality="confidential")]
    outcomes = {o.name: o for o in compare(jobs, fleet(), offers).outcomes}
    for name in [s.value for s in Strategy] + ["b2_local_when_fits", "lower_bound"]:
        assert outcomes[name].refused == 1, name
        assert outcomes[name].violations == 0, name
    assert outcomes["b1_hyperscaler"].violations == 1


def test_the_lower_bound_pays_work_only_on_the_cheapest_eligible_gpu():
    # Local at $0.36/h beats the $3.60/h cloud; a confidential job can only go local
    # and an EU job only to the EU offer (spot allowed for a normal job).
    gpu = local_gpu(vram_gb=16.0)
    eu = offer(instance_type="eu", region="EU-DE", price_per_hour=7.2, spot_price_per_hour=1.8)
    video = job("video", MONDAY, media="video", analyses=("shots",), duration=600,
                region="EU")
    image = job("image", MONDAY, factor=2.0)
    offers = OfferFile(offers=(offer(), eu), capacity={})
    the_fleet = fleet(gpu, policy=Policy())
    bound = next(o for o in compare([video, image], the_fleet, offers).outcomes
                 if o.kind == Kind.BOUND)
    # The 16 GB card cannot take video; the EU offer's spot price is the cheapest for it.
    assert bound.cost_by_provider == {
        "aws": pytest.approx(1.8 * estimate(video, "RTX4090") / 3600),
        "local": pytest.approx(0.36 * 2.0 * estimate(image, gpu.model) / 3600),
    }
    assert bound.placed_local == 1 and bound.placed_cloud == 1

"""The replay's mechanics on scenarios small enough to work out by hand: cloud
billing and idle grace, capacity, availability windows, spot interruptions,
the monthly budget."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from aima_tasks.kernel.placement import LocalGpu, Policy, Strategy
from aima_tasks.kernel.schedule import parse
from aima_tasks.kernel.simulation.inputs import TraceJob
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.placing import Placement, ReplayView
from aima_tasks.kernel.simulation.replay import replay

from .scenario import MONDAY, Fixed, book, estimate, fleet, job, offer

PRICE_PER_S = 3.6 / 3600
BOOT = 100.0
RUN = 50.0
GRACE = 60.0


def on_demand(runtime: float = RUN) -> Fixed:
    return Fixed(Placement(runtime_s=runtime, offer=0))


@pytest.mark.parametrize("gap", [30.0, 59.0])
def test_a_job_within_the_idle_grace_reuses_the_instance(gap):
    first = job("a", MONDAY)
    # The second arrives `gap` seconds after the first finishes (boot + run).
    second = job("b", MONDAY + timedelta(seconds=BOOT + RUN + gap))
    outcome = replay([first, second], fleet(grace=GRACE), book(offer()), on_demand())

    # One instance: boot, run, idle `gap`, run again (no boot), idle the grace, gone.
    billed = BOOT + RUN + gap + RUN + GRACE
    assert outcome.cloud_instances == 1
    assert outcome.idle_gpu_s == pytest.approx(gap + GRACE)
    assert outcome.total_cost == pytest.approx(billed * PRICE_PER_S)
    assert outcome.cost_by_provider == {"aws": pytest.approx(billed * PRICE_PER_S)}
    # The first waited for the boot; the second started at once.
    assert outcome.wait_p50_s == pytest.approx(0.0)
    assert outcome.wait_p95_s == pytest.approx(BOOT)
    assert outcome.makespan_s == pytest.approx(BOOT + RUN + gap + RUN)


@pytest.mark.parametrize("gap", [61.0, 600.0])
def test_a_job_after_the_idle_grace_launches_a_new_instance(gap):
    first = job("a", MONDAY)
    second = job("b", MONDAY + timedelta(seconds=BOOT + RUN + gap))
    outcome = replay([first, second], fleet(grace=GRACE), book(offer()), on_demand())

    # Two instances, each booted, run and idle for the full grace.
    billed = 2 * (BOOT + RUN + GRACE)
    assert outcome.cloud_instances == 2
    assert outcome.idle_gpu_s == pytest.approx(2 * GRACE)
    assert outcome.total_cost == pytest.approx(billed * PRICE_PER_S)
    assert outcome.wait_p50_s == pytest.approx(BOOT)


def test_no_grace_terminates_at_once():
    jobs = [job("a", MONDAY), job("b", MONDAY + timedelta(seconds=BOOT + RUN + 1))]
    outcome = replay(jobs, fleet(grace=0.0), book(offer()), on_demand())
    assert outcome.cloud_instances == 2
    assert outcome.idle_gpu_s == 0
    assert outcome.total_cost == pytest.approx(2 * (BOOT + RUN) * PRICE_PER_S)


def test_idle_gpu_seconds_count_every_gpu_of_the_instance():
    outcome = replay([job("a", MONDAY)], fleet(grace=GRACE), book(offer(gpu_count=4)),
                     on_demand())
    assert outcome.idle_gpu_s == pytest.approx(4 * GRACE)


def test_upload_takes_size_over_the_slower_of_policy_and_offer_bandwidth():
    size = 500_000_000  # 4,000 megabits
    # The policy uploads at 100 Mbit/s, the offer takes 40: 100 s.
    outcome = replay([job("a", MONDAY, size=size)], fleet(grace=0.0),
                     book(offer(bandwidth_mbps=40.0)), on_demand())
    assert outcome.wait_p50_s == pytest.approx(BOOT + 100.0)
    assert outcome.total_cost == pytest.approx((BOOT + 100.0 + RUN) * PRICE_PER_S)


def test_runtime_factor_scales_the_actual_runtime():
    outcome = replay([job("a", MONDAY, factor=1.5)], fleet(grace=0.0), book(offer()),
                     on_demand())
    assert outcome.makespan_s == pytest.approx(BOOT + 1.5 * RUN)


def test_at_capacity_the_second_job_waits_for_the_instance_to_free():
    jobs = [job("a", MONDAY), job("b", MONDAY)]
    limited = replay(jobs, fleet(grace=GRACE), book(offer(), capacity={"aws": 1}), on_demand())
    # b takes over a's instance the moment a finishes, with no boot of its own.
    assert limited.cloud_instances == 1
    assert limited.wait_p95_s == pytest.approx(BOOT + RUN)
    assert limited.makespan_s == pytest.approx(BOOT + 2 * RUN)
    assert limited.total_cost == pytest.approx((BOOT + 2 * RUN + GRACE) * PRICE_PER_S)

    unlimited = replay(jobs, fleet(grace=GRACE), book(offer()), on_demand())
    assert unlimited.cloud_instances == 2
    assert unlimited.wait_p95_s == pytest.approx(BOOT)


def test_capacity_from_the_offer_file_column_wins_over_the_provider_default():
    from aima_tasks.kernel.simulation.offers import market

    only = offer()
    limited = market([only], MONDAY, file_capacity={only.key: 1},
                     provider_capacity={"aws": 5})
    assert limited.capacity == (1,)
    assert market([only], MONDAY, provider_capacity={"aws": 5}).capacity == (5,)
    assert market([only], MONDAY).capacity == (None,)


def test_waiting_jobs_are_served_by_priority_then_arrival():
    jobs = [job("a", MONDAY), job("low", MONDAY + timedelta(seconds=1)),
            job("high", MONDAY + timedelta(seconds=2), priority=5)]
    outcome = replay(jobs, fleet(grace=GRACE), book(offer(), capacity={"aws": 1}), on_demand())
    # a runs 100..150; high (arrived later, higher priority) 150..200; low 200..250.
    assert outcome.wait_p95_s == pytest.approx(BOOT + 2 * RUN - 1)
    assert outcome.wait_p50_s == pytest.approx(BOOT + RUN - 2)
    assert outcome.makespan_s == pytest.approx(BOOT + 3 * RUN)


# ---------------------------------------------------------------- local GPUs

def local_gpu(**overrides: object) -> LocalGpu:
    fields: dict[str, object] = {"gpu_id": 7, "model": "NVIDIA GeForce RTX 4090", "vram_gb": 24.0,
                                 "cuda_version": "12.4", "host": "ws", "cost_per_hour": 0.36}
    fields.update(overrides)
    return LocalGpu(**fields)  # type: ignore[arg-type]


def test_a_schedule_window_delays_a_local_job_to_its_opening():
    evenings = local_gpu(schedule=parse("Mon-Fri 18:00-08:00"))
    at_ten = job("a", MONDAY + timedelta(hours=10))
    # The engine itself chooses the GPU (there is nothing else) and the window delays it.
    placer = EnginePlacer(Strategy.BALANCED, fleet(evenings), book())
    outcome = replay([at_ten], fleet(evenings), book(), placer)

    runtime = estimate(at_ten, evenings.model)
    assert outcome.placed_local == 1
    assert outcome.wait_p50_s == pytest.approx(8 * 3600)
    assert outcome.makespan_s == pytest.approx(8 * 3600 + runtime)
    assert outcome.total_cost == pytest.approx(0.36 * runtime / 3600)
    assert outcome.cost_by_provider == {"local": pytest.approx(0.36 * runtime / 3600)}


def test_a_running_job_finishes_after_the_window_closes_and_the_next_waits():
    evenings = local_gpu(schedule=parse("Mon-Fri 18:00-08:00"))
    # Tuesday 07:58: the first runs 07:58-08:03 past the close; the second waits for 18:00.
    tuesday = MONDAY + timedelta(days=1, hours=7, minutes=58)
    jobs = [job("a", tuesday), job("b", tuesday)]
    outcome = replay(jobs, fleet(evenings), book(), Fixed(Placement(runtime_s=300, gpu=0)))
    assert outcome.wait_p50_s == pytest.approx(0.0)
    assert outcome.wait_p95_s == pytest.approx(10 * 3600 + 2 * 60)
    assert outcome.makespan_s == pytest.approx(10 * 3600 + 2 * 60 + 300)


def test_local_queue_runs_higher_priority_first():
    gpu = local_gpu()
    jobs = [job("a", MONDAY), job("low", MONDAY + timedelta(seconds=1)),
            job("high", MONDAY + timedelta(seconds=2), priority=3)]
    outcome = replay(jobs, fleet(gpu), book(), Fixed(Placement(runtime_s=100, gpu=0)))
    # a 0..100, high 100..200 (waited 98), low 200..300 (waited 199).
    assert outcome.wait_p95_s == pytest.approx(199)
    assert outcome.wait_p50_s == pytest.approx(98)


def test_local_cost_is_energy_and_depreciation_for_the_runtime():
    from aima_tasks.kernel.simulation.inputs import fleet_from_dict

    # 500 W at 0.20/kWh = 0.10 an hour; 876 over 8,760 hours = 0.10 an hour.
    the_fleet = fleet_from_dict({"energy_price_per_kwh": 0.2, "gpus": [
        {"id": 1, "model": "RTX 4090", "vram_gb": 24, "cuda_version": "12.4",
         "power_watts": 500, "purchase_price": 876, "lifetime_hours": 8760}]})
    outcome = replay([job("a", MONDAY)], the_fleet, book(),
                     Fixed(Placement(runtime_s=1800, gpu=0)))
    assert outcome.total_cost == pytest.approx(0.20 * 0.5)


# ---------------------------------------------------------------- spot

def expected_spot(seed: int, rate_per_hour: float, boot: float, run: float, grace: float,
                  price_per_s: float) -> tuple[int, float, float]:
    """Interruptions, rework seconds and cost of one spot job, worked out
    directly from the seeded draws: each instance is lost after an exponential
    time from its launch; a lost job boots a new one and starts over."""
    rng = random.Random(seed)
    interruptions, rework, cost = 0, 0.0, 0.0
    while True:
        lost_after = rng.expovariate(rate_per_hour / 3600)
        if lost_after < boot + run:
            interruptions += 1
            rework += max(lost_after - boot, 0.0)
            cost += lost_after * price_per_s
            continue
        alive = min(boot + run + grace, lost_after)
        if lost_after < boot + run + grace:
            interruptions += 1  # reclaimed while idle
        cost += alive * price_per_s
        return interruptions, rework, cost


def test_spot_interruptions_cause_rework_and_cost_more():
    seed, rate, run = 3, 4.0, 600.0
    spot = offer(spot_price_per_hour=1.8, interruption_per_hour=rate)
    placer = Fixed(Placement(runtime_s=run, offer=0, spot=True))
    outcome = replay([job("a", MONDAY)], fleet(grace=GRACE), book(spot), placer, seed=seed)

    interruptions, rework, cost = expected_spot(seed, rate, BOOT, run, GRACE, 1.8 / 3600)
    assert interruptions >= 1, "the seed should interrupt the job at least once"
    assert outcome.spot_interruptions == interruptions
    assert outcome.rework_s == pytest.approx(rework)
    assert rework > 0
    assert outcome.total_cost == pytest.approx(cost)

    calm = offer(spot_price_per_hour=1.8, interruption_per_hour=0.0)
    quiet = replay([job("a", MONDAY)], fleet(grace=GRACE), book(calm), placer, seed=seed)
    assert quiet.spot_interruptions == 0
    assert quiet.rework_s == 0
    assert quiet.total_cost == pytest.approx((BOOT + run + GRACE) * 1.8 / 3600)
    assert outcome.total_cost > quiet.total_cost
    assert outcome.makespan_s > quiet.makespan_s


def test_the_policy_rate_applies_where_the_offer_has_none():
    spot = offer(spot_price_per_hour=1.8)
    policy = Policy(spot_interruption_per_hour=4.0)
    placer = Fixed(Placement(runtime_s=600.0, offer=0, spot=True))
    outcome = replay([job("a", MONDAY)], fleet(grace=GRACE, policy=policy), book(spot), placer,
                     seed=3)
    interruptions, rework, cost = expected_spot(3, 4.0, BOOT, 600.0, GRACE, 1.8 / 3600)
    assert outcome.rework_s == pytest.approx(rework)
    assert outcome.spot_interruptions == interruptions
    assert outcome.total_cost == pytest.approx(cost)


def test_on_demand_instances_are_never_interrupted():
    busy = offer(spot_price_per_hour=1.8, interruption_per_hour=1000.0)
    outcome = replay([job("a", MONDAY)], fleet(grace=GRACE), book(busy),
                     Fixed(Placement(runtime_s=600.0, offer=0)))
    assert outcome.spot_interruptions == 0


# ---------------------------------------------------------------- the budget

def test_the_monthly_budget_counts_this_months_spend_and_resets():
    # Boot 100 s + ~5 s of work at $36/h is about $1.05 a job, $1.65 with a minute idle.
    dear = offer(price_per_hour=36.0)
    policy = Policy(monthly_budget=2.0)
    the_fleet = fleet(grace=GRACE, policy=policy)
    jobs = [job("a", MONDAY + timedelta(days=2)),
            # The same month, after a's instance is gone: $0.35 left, not enough.
            job("b", MONDAY + timedelta(days=3)),
            # December: a new month, a new budget.
            job("c", MONDAY + timedelta(days=9))]
    prices = book(dear, priced_at=MONDAY + timedelta(days=9))
    outcome = replay(jobs, the_fleet, prices, EnginePlacer(Strategy.COST_FIRST, the_fleet, prices))
    assert outcome.placed_cloud == 2
    assert outcome.refused == 1

    free = fleet(grace=GRACE)
    unbounded = replay(jobs, free, prices, EnginePlacer(Strategy.COST_FIRST, free, prices))
    assert unbounded.placed_cloud == 3


@dataclass
class Recording:
    """Puts every job on the first GPU for an hour and records the backlog it
    saw there: all of it, and what its priority cannot overtake."""

    seen: list[tuple[float, float]] = field(default_factory=list)
    name: str = "recording"
    label: str = "records backlogs"
    kind: Kind = Kind.STRATEGY

    def place(self, job: TraceJob, view: ReplayView) -> Placement:
        self.seen.append((view.backlog_s(0), view.backlog_s(0, job.spec.priority)))
        return Placement(runtime_s=3600.0, gpu=0)


def test_a_higher_priority_job_sees_only_the_work_it_cannot_overtake():
    jobs = [job("running", MONDAY), job("queued", MONDAY + timedelta(seconds=1)),
            job("urgent", MONDAY + timedelta(seconds=2), priority=5)]
    placer = Recording()
    outcome = replay(jobs, fleet(local_gpu()), book(), placer)
    assert placer.seen[2] == (pytest.approx(3598 + 3600), pytest.approx(3598))
    assert outcome.unfinished == 0

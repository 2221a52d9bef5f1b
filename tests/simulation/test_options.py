"""The replay's options, each on a scenario small enough to follow: pause and
resume idle instances, keep capacity warm, defer low-urgency work to a local
GPU's free window (and move it to the cloud when its deadline nears)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aima_tasks.kernel.offpeak import DeferralPolicy
from aima_tasks.kernel.placement import Policy, Strategy
from aima_tasks.kernel.schedule import parse
from aima_tasks.kernel.simulation.deferring import DeferringPlacer
from aima_tasks.kernel.simulation.inputs import TraceJob
from aima_tasks.kernel.simulation.options import (
    TODAY,
    PauseOption,
    ReplayOptions,
    WarmOption,
)
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.placing import Placement
from aima_tasks.kernel.simulation.replay import replay

from .scenario import MONDAY, Fixed, book, estimate, fleet, job, offer
from .test_replay import local_gpu

HOUR = 3600.0


def every_ten_minutes(days: int) -> list:
    """Small cloud jobs every ten minutes, day and night: steady demand."""
    return [job(f"j{n}", MONDAY + timedelta(minutes=10 * n)) for n in range(days * 144)]


def cloud_only(options: ReplayOptions):
    # aws: DEFAULT_PAUSE lets it pause and resume in 60 s instead of a 100 s boot.
    # Nine days: the weekly forecast knows Monday and Tuesday from the second week on.
    return replay(every_ten_minutes(9), fleet(grace=60.0), book(offer(provider="aws")),
                  Fixed(Placement(runtime_s=50.0, offer=0)), options=options)


def test_pause_resumes_instead_of_booting_once_demand_is_forecast():
    today = cloud_only(TODAY)
    paused = cloud_only(ReplayOptions(pause=PauseOption()))
    assert today.pauses == today.resumes == 0
    assert today.cloud_instances == 1296  # every job boots a fresh instance
    # In the second week the forecast expects six jobs an hour: pause, then resume.
    assert paused.resumes >= 280
    assert paused.pauses >= paused.resumes
    assert paused.cloud_instances <= 1296 - 280
    assert paused.total_cost < today.total_cost
    assert paused.cloud_wait_p95_s == today.cloud_wait_p95_s == 100.0
    assert today.wait_p50_s == 100.0
    assert paused.past_deadline == today.past_deadline == 0


def test_warm_capacity_trades_idle_time_for_shorter_waits():
    today = cloud_only(TODAY)
    warm = cloud_only(ReplayOptions(warm=WarmOption(value_per_wait_hour=50.0)))
    # Kept between jobs in the second week: no boot to wait for.
    assert warm.cloud_instances < 1296 - 280
    assert warm.idle_gpu_s > 2 * today.idle_gpu_s
    assert warm.total_cost > today.total_cost
    # Waiting worth little: not worth an idle instance, so today's behaviour.
    cheap = cloud_only(ReplayOptions(warm=WarmOption(value_per_wait_hour=0.0)))
    assert cheap.cloud_instances == today.cloud_instances
    assert cheap.total_cost == today.total_cost


def video(job_id: str, at_s: float, runtime_s: float, **fields: object) -> TraceJob:
    """A video job whose estimate on an RTX 4090 is ``runtime_s``, no upload."""
    one, two = (estimate(job("x", MONDAY, media="video", analyses=("shots",), duration=d),
                         "RTX4090") for d in (100.0, 200.0))
    per_s = (two - one) / 100.0
    duration = 100.0 + (runtime_s - one) / per_s
    return job(job_id, MONDAY + timedelta(seconds=at_s), media="video", analyses=("shots",),
               duration=duration, **fields)  # type: ignore[arg-type]


def engine(the_fleet, market, offpeak: bool):
    placer = EnginePlacer(Strategy.BALANCED, the_fleet, market)
    return DeferringPlacer(placer, the_fleet, DeferralPolicy()) if offpeak else placer


def test_offpeak_defers_a_low_urgency_job_to_the_nights_free_gpu():
    nights = local_gpu(schedule=parse("Mon-Fri 18:00-08:00"), cost_per_hour=0.36)
    the_fleet = fleet(nights, policy=Policy(max_local_wait_s=1800.0))
    ten = 10 * HOUR  # Monday 10:00
    market = book(offer(), priced_at=MONDAY + timedelta(seconds=ten))
    jobs = [video("low", ten, HOUR, urgency="low"),
            video("urgent", ten + 1, HOUR, urgency="high"),
            video("secret", ten + 2, HOUR, confidentiality="confidential")]
    today = replay(jobs, the_fleet, market, engine(the_fleet, market, False))
    placer = engine(the_fleet, market, True)
    deferred = replay(jobs, the_fleet, market, placer, options=ReplayOptions(
        offpeak=DeferralPolicy()))
    assert (today.placed_local, today.placed_cloud, today.deferred) == (1, 2, 0)
    # The low-urgency job waits for 18:00 on the local GPU, behind the
    # confidential one (deferred work only fills free time); the urgent one
    # still goes to the cloud.
    assert (deferred.placed_local, deferred.placed_cloud, deferred.deferred) == (2, 1, 1)
    assert deferred.cost_by_provider["local"] == 2 * 0.36
    assert deferred.total_cost < today.total_cost - 3.0
    assert deferred.past_deadline == today.past_deadline == 0
    assert placer.verdicts == {"deferred_off_peak": 1, "not_deferred_urgent": 1}
    # Each cloud-bound decision says whether it was deferred, and why.
    record = placer.records["low"]
    assert record["code"] == "deferred_off_peak" and record["defer"]
    assert "Mon 23 Nov 18:00" in record["reason"]
    assert record["until"] == (MONDAY + timedelta(hours=18)).isoformat()
    assert placer.records["urgent"]["reason"] == "urgent jobs are never deferred"
    assert "secret" not in placer.records  # placed locally: nothing to defer


def test_a_deferred_job_kept_from_its_gpu_moves_to_the_cloud_in_time():
    gpu = local_gpu(cost_per_hour=0.36)
    the_fleet = fleet(gpu, policy=Policy(max_local_wait_s=4000.0))
    market = book(offer())
    late = video("deferred", 1, HOUR, urgency="low")
    late = replace(late, deadline_s=late.arrival_s + 6 * HOUR)
    jobs = [video("first", 0, 1.5 * HOUR),
            late,
            # Confidential work queues locally and goes before deferred work.
            video("secret", 2, 3 * HOUR, confidentiality="confidential")]
    placer = engine(the_fleet, market, True)
    outcome = replay(jobs, the_fleet, market, placer,
                     options=ReplayOptions(offpeak=DeferralPolicy()))
    assert outcome.deferred == 1
    # At its last local start (deadline - 2 x 1 h - 30 min) it had not
    # started: rescued to the cloud, where it boots, runs and is in time.
    assert outcome.rescued == 1
    assert (outcome.placed_local, outcome.placed_cloud) == (2, 1)
    assert outcome.past_deadline == 0
    assert outcome.unfinished == 0

"""The other conditions, read from real rows, and the pure rules' edges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aima_tasks.kernel.gpu_health import Health
from aima_tasks.kernel.telemetry import OVERHEAT_FALLBACK_C
from aima_web.alerts import conditions
from aima_web.alerts.conditions import Finding
from aima_web.alerts.evaluate import evaluate
from aima_web.alerts.models import Alert, Kind, Severity
from aima_web.fleet.models import LocalGPU
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState
from aima_web.placement.models import PlacementPolicy

pytestmark = pytest.mark.django_db


def test_overheating_is_judged_by_the_gpus_own_slowdown_or_the_fallback():
    assert conditions.overheating(88, 88) and not conditions.overheating(87, 88)
    assert not conditions.overheating(OVERHEAT_FALLBACK_C, None)
    assert conditions.overheating(OVERHEAT_FALLBACK_C + 1, None)
    assert not conditions.overheating(None, 80)


def test_budget_steps_and_failure_rate_edges():
    assert conditions.budget_steps_reached(79.99, 100) == []
    assert [k for k, _ in conditions.budget_steps_reached(80, 100)] == [Kind.BUDGET_80]
    assert [k for k, _ in conditions.budget_steps_reached(100, 100)] == [
        Kind.BUDGET_100, Kind.BUDGET_80]
    assert conditions.budget_steps_reached(1e9, None) == []
    assert not conditions.failure_rate_high(1, 5)  # 20 % is not over 20 %
    assert conditions.failure_rate_high(2, 5)
    assert not conditions.failure_rate_high(4, 4)  # too few to tell


def test_a_failed_gpu_raises_until_its_health_returns():
    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-5",
                                  uuid="GPU-SIM-5", simulated=True)
    LocalGPU.objects.filter(pk=gpu.pk).update(status="failed", health=Health.PERSISTENT,
                                              health_reason="uncorrectable ECC errors: 2")
    now = timezone.now()
    assert conditions.gpu_failed(now) == [Finding(
        Kind.GPU_FAILED, f"gpu:{gpu.pk}", Severity.CRITICAL,
        f"{gpu} failed (persistent): uncorrectable ECC errors: 2")]
    LocalGPU.objects.filter(pk=gpu.pk).update(status="available", health=Health.HEALTHY)
    assert conditions.gpu_failed(now) == []


def test_an_instance_idle_over_15_minutes_raises_and_resolves_when_busy():
    now = timezone.now()
    instance = CloudInstance.objects.create(
        provider="subprocess", offer_id="x", gpu_class=24, price_per_hour=2.0,
        state=InstanceState.IDLE, launched_at=now - timedelta(hours=1),
        idle_since=now - timedelta(minutes=14))
    assert evaluate(now)["raised"] == 0
    assert evaluate(now + timedelta(minutes=2))["raised"] == 1
    assert Alert.objects.get().subject == f"instance:{instance.pk}"
    CloudInstance.objects.filter(pk=instance.pk).update(state=InstanceState.BUSY,
                                                        idle_since=None)
    assert evaluate(now + timedelta(minutes=3))["resolved"] == 1


def _jobs(alice, states: list[JobState], finished_at) -> None:
    asset, _ = MediaAsset.objects.get_or_create(sha256="ef" * 32, size_bytes=10,
                                                media_type="image")
    for state in states:
        Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                           analyses=["objects"], state=state, finished_at=finished_at)


def test_the_job_failure_rate_counts_the_last_hour(alice):
    now = timezone.now()
    _jobs(alice, [JobState.SUCCEEDED] * 3 + [JobState.FAILED] * 2, now - timedelta(minutes=5))
    _jobs(alice, [JobState.FAILED] * 5, now - timedelta(hours=2))  # too old to count
    assert conditions.job_failure_rate(now) == [Finding(
        Kind.JOB_FAILURE_RATE, "jobs", Severity.WARNING,
        "2 of 5 jobs finished in the last hour failed")]
    assert conditions.job_failure_rate(now + timedelta(hours=1)) == []


def test_a_job_queued_past_the_policy_target_raises_one_queue_alert(alice):
    policy = PlacementPolicy.current()
    policy.max_local_wait_s = 600
    policy.save()
    now = timezone.now()
    asset = MediaAsset.objects.create(sha256="aa" * 32, size_bytes=10, media_type="image")
    for minutes in (5, 11, 12):
        Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                           analyses=["objects"], state=JobState.QUEUED,
                           queued_at=now - timedelta(minutes=minutes))
    [finding] = conditions.queue_wait(now)
    assert (finding.kind, finding.subject) == (Kind.QUEUE_WAIT, "queue")
    assert finding.message.startswith("2 job(s) queued longer")
    Job.objects.filter(state=JobState.QUEUED).update(state=JobState.RUNNING)
    assert conditions.queue_wait(now) == []

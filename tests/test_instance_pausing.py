"""Pause and resume in the instance lifecycle, against the real `subprocess`
provider with pause support: idle → paused by the idle policy, resumed for the
next job before a new instance is asked for, ended after the pause grace, and
billed at the storage price while paused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aima_tasks.broker import EMBEDDED_BROKER_URL
from aima_web.audit.models import AuditEvent
from aima_web.fleet import services as fleet
from aima_web.fleet.assignments import Unit
from aima_web.fleet.models import Assignment
from aima_web.instances import (
    billing,
    capacity,
    launching,
    offers,
    pausing,
    reconcile,
    registry,
    upkeep,
)
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.states import transition
from aima_web.jobs import services as jobs
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from providers.base import InstanceState as ProviderState
from tests.test_instances import queued_cloud_job

pytestmark = pytest.mark.django_db

PRICE = 0.9
# 40 GB at 7.3 per GB and month: 0.4 per hour paused.
STORAGE_GB_MONTH = "7.3"
PAUSED_PRICE = 0.4


@pytest.fixture
def cloud(monkeypatch, tmp_path, settings):
    """The subprocess provider with pause support; its hosts boot too slowly
    for an agent to start, so the test enrols them."""
    monkeypatch.setenv("AIMA_PROVIDERS", "subprocess")
    monkeypatch.setenv("AIMA_SUBPROCESS_STATE_DIR", str(tmp_path / "instances"))
    monkeypatch.setenv("AIMA_SUBPROCESS_BOOT_DELAY_S", "120")
    monkeypatch.setenv("AIMA_SUBPROCESS_RESUME_DELAY_S", "60")
    monkeypatch.setenv("AIMA_SUBPROCESS_PAUSE_SUPPORT", "1")
    monkeypatch.setenv("AIMA_SUBPROCESS_STORAGE_PRICE_GB_MONTH", STORAGE_GB_MONTH)
    monkeypatch.setenv("AIMA_SUBPROCESS_PRICE_PER_HOUR", str(PRICE))
    settings.AIMA_DEPLOYMENT_ID = "test-deployment"
    settings.AIMA_IDLE_GRACE_S = 0
    settings.AIMA_PAUSE_GRACE_S = 600
    settings.AIMA_BROKER_URL = EMBEDDED_BROKER_URL
    registry.reload_providers()
    assert offers.refresh_offers() == {}
    provider = registry.providers().get("subprocess")
    assert provider.supports_pause
    yield provider
    for host in provider.list_instances({}):
        provider.terminate(host.instance_id)
    registry.reload_providers()


def idle_instance(api, video_file) -> tuple[CloudInstance, fleet.Registration]:
    """An instance that ran one job and is idle now."""
    job = queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    gpu = fleet.ReportedGpu(uuid=f"GPU-{instance.name}", model="Cloud 24", vram_gb=24,
                            cuda_version="12.4", simulated=True)
    enrolled = fleet.enrol(instance.enrollment_token, name=instance.name, version="test",
                           gpus=[gpu])
    Job.objects.transition(job.pk, JobState.RUNNING, agent=enrolled.agent)
    upkeep.job_started(enrolled.agent.pk)
    Job.objects.transition(job.pk, JobState.SUCCEEDED)
    upkeep.job_finished(str(job.pk))
    instance.refresh_from_db()
    assert instance.state == InstanceState.IDLE
    return instance, enrolled


def test_idle_with_work_expected_it_is_paused_with_the_decision(cloud, api, video_file):
    instance, _ = idle_instance(api, video_file)
    counts = upkeep.tick(now=timezone.now() + timedelta(seconds=1))
    instance.refresh_from_db()
    assert counts["paused"] == 1 and counts["idle_ended"] == 0, instance.idle_decision["reason"]
    instance.refresh_from_db()
    assert instance.state == InstanceState.PAUSED
    assert instance.paused_price_per_hour == pytest.approx(PAUSED_PRICE)
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.STOPPED
    decision = instance.idle_decision
    assert decision["action"] == "pause" and decision["pause_cost"] < decision["relaunch_cost"]
    assert decision["expected_jobs"] > 0
    pausing_event = AuditEvent.objects.get(action="instance.pausing",
                                           subject=f"instance:{instance.pk}")
    assert pausing_event.detail["decision"] == decision
    assert AuditEvent.objects.filter(action="instance.paused").exists()
    # Stopped at its provider, it is still ours: the reconciler keeps it.
    report = reconcile.reconcile(now=timezone.now() + timedelta(hours=1))
    assert report["terminated_unknown"] == [] and report["marked_vanished"] == []
    instance.refresh_from_db()
    assert instance.state == InstanceState.PAUSED


def test_the_next_job_resumes_it_rather_than_renting_another(
        cloud, api, video_file, django_capture_on_commit_callbacks):
    instance, enrolled = idle_instance(api, video_file)
    upkeep.tick(now=timezone.now() + timedelta(seconds=1))
    queued_cloud_job(api, video_file)
    with django_capture_on_commit_callbacks(execute=True):
        assert capacity.ensure_capacity() == []  # no new instance
    instance.refresh_from_db()
    assert instance.state == InstanceState.RESUMING and instance.resumed_at is not None
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.RUNNING
    # Its pause is closed: billed at the paused price from pause to resume.
    [[_, paused_to]] = instance.pauses
    assert paused_to is not None
    # It waits for the queued job: no second instance is asked for meanwhile.
    assert capacity.ensure_capacity() == []
    # Its agent comes back with its own credential (its token was single-use).
    fleet.reregister(enrolled.agent, name=instance.name, version="test", gpus=[])
    assert enrolled.agent.instance.pk == instance.pk
    instance.refresh_from_db()
    assert instance.state == InstanceState.READY
    resumed = AuditEvent.objects.get(action="instance.resumed")
    assert resumed.detail["resume_s"] >= 0


def test_a_paused_instance_ends_after_the_pause_grace_billed_at_both_prices(
        cloud, api, video_file, settings):
    instance, _ = idle_instance(api, video_file)
    upkeep.tick(now=timezone.now() + timedelta(seconds=1))
    assert upkeep.tick(now=timezone.now() + timedelta(seconds=60))["pause_ended"] == 0
    later = timezone.now() + timedelta(seconds=settings.AIMA_PAUSE_GRACE_S + 5)
    assert upkeep.tick(now=later)["pause_ended"] == 1
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATED
    assert cloud.describe(instance.provider_instance_id).state == ProviderState.TERMINATED
    paused_s = instance.paused_seconds()
    running_s = instance.billed_seconds() - paused_s
    assert paused_s > 0 and running_s > 0
    assert instance.cost == pytest.approx(PRICE * running_s / 3600
                                          + PAUSED_PRICE * paused_s / 3600)
    ended = AuditEvent.objects.get(action="instance.terminated")
    assert "AIMA_PAUSE_GRACE_S" in ended.detail["why"]
    assert ended.detail["paused_s"] == pytest.approx(paused_s, abs=0.1)


def test_storage_dearer_than_a_relaunch_terminates_it(cloud, api, video_file, monkeypatch):
    monkeypatch.setenv("AIMA_SUBPROCESS_STORAGE_PRICE_GB_MONTH", "100000")
    registry.reload_providers()
    instance, _ = idle_instance(api, video_file)
    counts = upkeep.tick(now=timezone.now() + timedelta(seconds=1))
    assert counts["idle_ended"] == 1 and counts["paused"] == 0
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATED
    assert instance.idle_decision["action"] == "terminate"
    assert "costs more than a relaunch" in instance.idle_decision["reason"]


def test_a_job_on_an_instance_being_paused_is_handed_back(
        cloud, api, video_file, django_capture_on_commit_callbacks):
    instance, enrolled = idle_instance(api, video_file)
    # The policy decided to pause it; its agent took a job before its host stopped.
    assert transition(instance.pk, InstanceState.PAUSING)
    job = queued_cloud_job(api, video_file)
    unit = Unit(str(job.pk), 0, tuple(job.analyses))
    assert jobs.start_running(job, enrolled.agent, unit, unit.ticket(), "")
    assert CloudInstance.objects.get(pk=instance.pk).state == InstanceState.PAUSING
    assert pausing.finish_pause(instance.pk)
    # Nobody holds its unit; it is stranded, wanted again, and on the trail.
    assert Assignment.objects.get(job=job).agent is None
    assert list(capacity.stranded_jobs()) == [Job.objects.get(pk=job.pk)]
    paused = AuditEvent.objects.get(action="instance.paused")
    assert paused.detail["requeued"] == [str(job.pk)]
    assert AuditEvent.objects.filter(action="job.unit_handed_back",
                                     subject=job.subject).exists()
    # The paused instance is resumed for it, rather than a new one rented.
    with django_capture_on_commit_callbacks(execute=True):
        assert capacity.ensure_capacity() == []
    assert CloudInstance.objects.get(pk=instance.pk).state == InstanceState.RESUMING


def test_pause_moves_follow_the_table() -> None:
    row = CloudInstance.objects.create(provider="subprocess", offer_id="subprocess:test",
                                       gpu_class=24, state=InstanceState.BUSY)
    assert not transition(row.pk, InstanceState.PAUSING)  # busy: never paused
    CloudInstance.objects.filter(pk=row.pk).update(state=InstanceState.IDLE)
    assert not transition(row.pk, InstanceState.RESUMING)  # not paused
    assert transition(row.pk, InstanceState.PAUSING)
    assert not transition(row.pk, InstanceState.BUSY)  # no job lands on it
    assert transition(row.pk, InstanceState.PAUSED)
    assert not transition(row.pk, InstanceState.READY)  # only through resuming
    assert transition(row.pk, InstanceState.RESUMING)
    assert transition(row.pk, InstanceState.READY)
    for state in (InstanceState.PAUSING, InstanceState.PAUSED, InstanceState.RESUMING):
        CloudInstance.objects.filter(pk=row.pk).update(state=state)
        assert transition(row.pk, InstanceState.TERMINATING)


def test_this_months_bill_counts_paused_time_at_the_paused_price() -> None:
    now = timezone.now()
    start = billing.month_start(now)
    # Launched last month, paused across the month's start, resumed two hours in.
    CloudInstance.objects.create(
        provider="subprocess", offer_id="subprocess:test", gpu_class=24,
        state=InstanceState.READY, price_per_hour=1.0, paused_price_per_hour=0.1,
        launched_at=start - timedelta(hours=5),
        pauses=[[(start - timedelta(hours=1)).isoformat(),
                 (start + timedelta(hours=2)).isoformat()]])
    until = start + timedelta(hours=3)
    # This month: 2 hours paused at 0.1, 1 running at 1.0.
    assert billing.billed_this_month(until) == pytest.approx(2 * 0.1 + 1 * 1.0)

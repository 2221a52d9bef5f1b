"""Retention: what the beat deletes, what it keeps, and the trail it leaves."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from aima_tasks.kernel.routing import TaskName
from aima_web.audit.models import AuditEvent
from aima_web.celery import app, schedule_periodic_tasks
from aima_web.jobs import services, storage
from aima_web.jobs.models import AnalysisResult, Job
from aima_web.privacy.models import LegalHold, RetentionPolicy
from aima_web.privacy.tasks import retention_task
from tests.privacy.conftest import stored_job

pytestmark = pytest.mark.django_db


def result_for(job: Job) -> AnalysisResult:
    now = timezone.now()
    return AnalysisResult.objects.create(job=job, analysis="people", data={"count": 3},
                                         started_at=now - timedelta(seconds=1), finished_at=now)


def on_disk(job: Job) -> bool:
    return storage.content_path(job.media.sha256).exists()


def deletions(subject: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="retention.deleted", subject=subject))


def test_the_default_policy_keeps_confidential_data_30_days_and_the_rest_90():
    days = dict(RetentionPolicy.objects.values_list("confidentiality", "media_days"))
    assert days == {"public": 90, "internal": 90, "confidential": 30}


def test_the_beat_runs_the_sweep(settings):
    schedule_periodic_tasks(app)
    assert app.conf.beat_schedule["retention-sweep"] == {
        "task": TaskName.RETENTION.value, "schedule": float(settings.AIMA_RETENTION_S)}


def test_an_expired_medium_and_its_results_go_with_an_audit_event(alice):
    job = stored_job(alice, os.urandom(2000), "confidential", finished_days_ago=31)
    result_for(job)
    retention_task()
    job.refresh_from_db()
    assert not on_disk(job) and job.media.deleted_at is not None
    assert job.results.count() == 0 and job.results_deleted_at is not None
    [media_event] = deletions(f"media:{job.media.sha256}")
    assert media_event.actor == "system" and media_event.detail["jobs"] == [str(job.id)]
    [results_event] = deletions(job.subject)
    assert results_event.detail["results"] == 1
    retention_task()  # nothing more to do, nothing recorded twice
    assert AuditEvent.objects.filter(action="retention.deleted").count() == 2


def test_data_within_its_period_stays(alice):
    job = stored_job(alice, os.urandom(2000), "internal", finished_days_ago=31)
    result_for(job)
    retention_task()
    assert on_disk(job) and job.results.count() == 1


def test_a_legal_hold_keeps_media_and_results(alice):
    job = stored_job(alice, os.urandom(2000), "confidential", finished_days_ago=400)
    result_for(job)
    LegalHold.objects.create(job=job, reason="case 2026-117")
    retention_task()
    assert on_disk(job) and job.results.count() == 1
    assert not AuditEvent.objects.filter(action="retention.deleted").exists()


@pytest.mark.parametrize("other_finished_days_ago", [None, 10])
def test_a_file_shared_with_a_job_that_still_needs_it_stays(alice, make_user,
                                                           other_finished_days_ago):
    plain = os.urandom(2000)
    expired = stored_job(alice, plain, "confidential", finished_days_ago=31)
    result_for(expired)
    keeping = stored_job(make_user("bob"), plain, "internal", other_finished_days_ago)
    assert expired.media == keeping.media
    retention_task()
    assert on_disk(keeping)
    with storage.open_media(keeping.media.sha256) as media:
        assert media.read() == plain
    expired.refresh_from_db()
    assert expired.results.count() == 0  # its own results went all the same


def test_a_policy_left_empty_keeps_for_ever(alice):
    RetentionPolicy.objects.filter(confidentiality="confidential").update(media_days=None)
    job = stored_job(alice, os.urandom(2000), "confidential", finished_days_ago=4000)
    retention_task()
    assert on_disk(job)


def test_content_uploaded_again_after_deletion_is_stored_again(alice, image_file):
    plain = image_file.path.read_bytes()
    old = stored_job(alice, plain, "confidential", finished_days_ago=31)
    retention_task()
    assert not on_disk(old)
    assert deletions(old.subject) == []  # it had no results to delete
    job = services.submit(alice, [plain], services.Submission(
        confidentiality="internal", urgency="normal", analyses=(), media_name="again.jpg"))
    assert job.media == old.media and job.media.deleted_at is None
    with storage.open_media(job.media.sha256) as media:
        assert media.read() == plain

"""One user's data: exported whole, erased where nothing else needs it."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aima_web.audit.models import AuditEvent
from aima_web.jobs import storage
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.privacy.models import LegalHold
from tests.privacy.conftest import stored_job

pytestmark = pytest.mark.django_db


def with_result(job: Job, data: dict) -> Job:
    now = timezone.now()
    AnalysisResult.objects.create(job=job, analysis="people", data=data,
                                  started_at=now - timedelta(seconds=1), finished_at=now)
    return job


def test_export_holds_their_jobs_results_and_audit_events(alice, make_user, tmp_path):
    mine = with_result(stored_job(alice, os.urandom(500), finished_days_ago=1), {"count": 2})
    with_result(stored_job(make_user("bob"), os.urandom(500), finished_days_ago=1), {"n": 9})
    out = tmp_path / "alice.json"
    call_command("aima_privacy", "export", "--user", "alice", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["user"]["username"] == "alice"
    [job] = document["jobs"]
    assert job["id"] == str(mine.id) and job["results"]["people"]["data"] == {"count": 2}
    assert job["media_sha256"] == mine.media.sha256
    assert AuditEvent.objects.filter(action="privacy.exported", subject="user:alice").exists()
    with pytest.raises(CommandError, match="exists"):
        call_command("aima_privacy", "export", "--user", "alice", "--out", str(out))
    call_command("aima_privacy", "export", "--user", "alice", "--out", str(tmp_path / "2.json"))
    audit = json.loads((tmp_path / "2.json").read_text())["audit"]
    assert [e["action"] for e in audit] == ["privacy.exported"]


def test_erase_deletes_their_jobs_and_media_no_one_else_needs(alice, make_user):
    shared = os.urandom(700)
    own = with_result(stored_job(alice, os.urandom(700), finished_days_ago=1), {"x": 1})
    alices_shared = stored_job(alice, shared, finished_days_ago=1)
    bobs = stored_job(make_user("bob"), shared, finished_days_ago=1)
    call_command("aima_privacy", "erase", "--user", "alice")
    assert not Job.objects.filter(owner=alice).exists()
    assert not AnalysisResult.objects.filter(job_id=own.id).exists()
    assert not storage.content_path(own.media.sha256).exists()
    assert not MediaAsset.objects.filter(pk=own.media.pk).exists()
    with storage.open_media(bobs.media.sha256) as media:
        assert media.read() == shared  # bob's job still needs it
    [erased] = AuditEvent.objects.filter(action="privacy.erased", subject="user:alice")
    assert set(erased.detail["jobs"]) == {str(own.id), str(alices_shared.id)}
    assert AuditEvent.objects.filter(action="privacy.erased",
                                     subject=f"media:{own.media.sha256}").exists()


def test_erase_refuses_while_a_job_is_on_legal_hold(alice):
    held = stored_job(alice, os.urandom(700), finished_days_ago=1)
    other = stored_job(alice, os.urandom(700), finished_days_ago=1)
    LegalHold.objects.create(job=held, reason="subpoena 44")
    with pytest.raises(CommandError, match=f"legal hold .*{held.id}"):
        call_command("aima_privacy", "erase", "--user", "alice")
    assert Job.objects.filter(pk__in=[held.pk, other.pk]).count() == 2
    assert storage.content_path(other.media.sha256).exists()


def test_erase_refuses_while_a_job_runs_and_names_unknown_users(alice):
    stored_job(alice, os.urandom(700))
    with pytest.raises(CommandError, match="have not finished"):
        call_command("aima_privacy", "erase", "--user", "alice")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("aima_privacy", "erase", "--user", "nobody")

"""Retention policies and legal holds are the admin's to see and change."""

from __future__ import annotations

import os

import pytest

from aima_web.jobs.models import AnalysisResult
from aima_web.privacy.models import LegalHold, RetentionPolicy
from tests.privacy.conftest import stored_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


def test_a_retention_period_is_changed_in_the_admin(admin_client):
    policy = RetentionPolicy.objects.get(confidentiality="confidential")
    response = admin_client.post(f"/admin/privacy/retentionpolicy/{policy.pk}/change/",
                                 {"confidentiality": "confidential", "media_days": "7",
                                  "results_days": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert (policy.media_days, policy.results_days) == (7, None)


def test_a_legal_hold_is_placed_in_the_admin_by_whoever_placed_it(admin_client, root, alice):
    job = stored_job(alice, os.urandom(300), finished_days_ago=1)
    response = admin_client.post("/admin/privacy/legalhold/add/",
                                 {"job": str(job.pk), "reason": "case 2026-117"})
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = LegalHold.objects.get(job=job)
    assert hold.placed_by == root and hold.reason == "case 2026-117"
    assert "case 2026-117" in admin_client.get("/admin/privacy/legalhold/").content.decode()


def test_sealed_results_read_as_json_in_the_job_admin(admin_client, alice):
    job = stored_job(alice, os.urandom(300), finished_days_ago=1)
    AnalysisResult.objects.create(job=job, analysis="people", data={"count": 41},
                                  started_at=job.finished_at, finished_at=job.finished_at)
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "&quot;count&quot;: 41" in page or '"count": 41' in page

"""What Django itself tells the trail: admin changes, logins (failed too), logouts;
reads of results and reports; and the trail's own admin page, which nobody edits."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from aima_web.audit import trail
from aima_web.audit.models import AuditEvent
from aima_web.jobs.models import Job
from tests.audit.history import ADMIN_PASSWORD, INTRUDER_ADDRESS, make_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", ADMIN_PASSWORD)


@pytest.fixture
def admin_client(root) -> Client:
    client = Client()
    client.force_login(root)
    return client


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_a_failed_login_records_the_name_tried_and_the_address_never_the_password(root):
    browser = Client(REMOTE_ADDR=INTRUDER_ADDRESS, HTTP_X_FORWARDED_FOR="198.51.100.1")
    browser.post("/admin/login/", {"username": "root", "password": "Tr0ub4dor&3-wrong"})
    browser.post("/admin/login/", {"username": "mallory", "password": "Tr0ub4dor&3-wrong"})
    failed = events("auth.login_failed")
    assert [(e.actor, e.subject, e.detail["username"], e.detail["ip"]) for e in failed] == [
        ("anonymous", "user:root", "root", INTRUDER_ADDRESS),
        ("anonymous", "user:mallory", "mallory", INTRUDER_ADDRESS)]
    assert failed[0].detail["forwarded_for"] == "198.51.100.1"
    everything = json.dumps(list(AuditEvent.objects.values("actor", "subject", "detail")))
    assert "Tr0ub4dor" not in everything


def test_a_login_and_a_logout_are_recorded(root):
    browser = Client(REMOTE_ADDR="192.0.2.10")
    assert browser.post("/admin/login/", {"username": "root", "password": ADMIN_PASSWORD,
                                          "next": "/admin/"}).status_code == 302
    browser.post("/admin/logout/")
    assert [(e.action, e.actor, e.detail["ip"]) for e in events("auth.login")
            + events("auth.logout")] == [("auth.login", "user:root", "192.0.2.10"),
                                         ("auth.logout", "user:root", "192.0.2.10")]


def test_admin_add_change_and_delete_are_recorded(admin_client):
    admin_client.post("/admin/auth/group/add/", {"name": "forensics"})
    group = Group.objects.get(name="forensics")
    admin_client.post(f"/admin/auth/group/{group.id}/change/", {"name": "forensics-eu"})
    admin_client.post(f"/admin/auth/group/{group.id}/delete/", {"post": "yes"})
    assert not Group.objects.filter(id=group.id).exists()
    recorded = [(e.action, e.actor, e.subject, e.detail["object"])
                for e in AuditEvent.objects.filter(action__startswith="admin.").order_by("seq")]
    subject = f"auth.group:{group.id}"
    assert recorded == [("admin.added", "user:root", subject, "forensics"),
                        ("admin.changed", "user:root", subject, "forensics-eu"),
                        ("admin.deleted", "user:root", subject, "forensics-eu")]
    assert events("admin.changed")[0].detail["change"] == "Changed Name."


def test_deleting_several_at_once_records_each(admin_client):
    groups = [Group.objects.create(name=f"team-{n}") for n in range(3)]
    response = admin_client.post("/admin/auth/group/", {
        "action": "delete_selected", "_selected_action": [g.id for g in groups[:2]],
        "post": "yes"})
    assert response.status_code == 302
    assert list(Group.objects.filter(name__startswith="team-")) == [groups[2]]
    assert sorted(e.subject for e in events("admin.deleted")) == sorted(
        f"auth.group:{g.id}" for g in groups[:2])


def test_reading_results_and_reports_is_recorded(api, django_user_model, tmp_path, alice):
    made = make_history(api, django_user_model, tmp_path)
    api.get(f"/api/v1/jobs/{made['job']}/report/")
    api.get(f"/api/v1/jobs/{made['job']}/report/?format=html")
    subject = Job.objects.get(id=made["job"]).subject
    assert [(e.actor, e.subject) for e in events("job.results_read")] == [("user:alice", subject)]
    assert [(e.actor, e.subject, e.detail["format"]) for e in events("job.report_read")] == [
        ("user:alice", subject, "json"), ("user:alice", subject, "html")]


def test_nobody_edits_the_trail_in_the_admin(admin_client):
    recorded = trail.record(trail.SYSTEM, "job.failed", "job:1", error="x")
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    page = admin_client.get(f"/admin/audit/auditevent/{recorded.id}/change/")
    assert page.status_code == 200
    assert recorded.hash.encode() in page.content and recorded.prev_hash.encode() in page.content
    assert b'name="actor"' not in page.content  # read-only: no form field
    assert admin_client.post(f"/admin/audit/auditevent/{recorded.id}/change/",
                             {"actor": "user:nobody"}).status_code == 403
    assert admin_client.post(f"/admin/audit/auditevent/{recorded.id}/delete/",
                             {"post": "yes"}).status_code == 403
    listing = admin_client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and b"delete_selected" not in listing.content
    assert AuditEvent.objects.get(id=recorded.id).actor == "system"

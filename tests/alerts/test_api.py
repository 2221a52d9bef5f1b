"""GET /api/v1/alerts/ for operators, refused to others, its limit checked."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aima_web.alerts.models import Alert, Kind, Severity

pytestmark = pytest.mark.django_db


def test_operators_see_open_alerts_first(operator_api, api):
    now = timezone.now()
    Alert.objects.create(kind=Kind.BUDGET_80, subject="budget", severity=Severity.WARNING,
                         message="80.00 of 100.00", raised_at=now, resolved_at=now)
    Alert.objects.create(kind=Kind.AGENT_SILENT, subject="agent:1",
                         severity=Severity.CRITICAL, message="silent", raised_at=now)
    answer = operator_api.get("/api/v1/alerts/")
    assert answer.status_code == 200
    assert [(a["kind"], a["state"]) for a in answer.json()] == [
        ("agent_silent", "raised"), ("budget_80", "resolved")]
    assert len(operator_api.get("/api/v1/alerts/?limit=1").json()) == 1
    assert api.get("/api/v1/alerts/").status_code == 403  # an analyst


def test_a_bad_limit_is_refused_naming_it(operator_api):
    answer = operator_api.get("/api/v1/alerts/?limit=zero")
    assert answer.status_code == 400 and "limit" in answer.json()

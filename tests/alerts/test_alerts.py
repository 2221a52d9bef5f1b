"""Alerts fire once and resolve once: an overheated simulated GPU, a silent
agent, a cloud budget passed at 80 % and at 100 %; one e-mail and one webhook
call per raise and per resolve, a failed webhook retried and not duplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from aima_tasks.kernel.routing import CONTROL_QUEUE, TaskName
from aima_tasks.topology import route_task
from aima_web.alerts.evaluate import EVERY_S, evaluate, recent_alerts
from aima_web.alerts.models import Alert, Kind, Severity
from aima_web.celery import app, schedule_periodic_tasks
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.placement.models import PlacementPolicy

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)
# Mid-month, so that every pass of a test bills in one calendar month.
MID_MONTH = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def passes(start: datetime, count: int = 3) -> list[dict[str, int]]:
    return [evaluate(start + i * MINUTE) for i in range(count)]


def sample(gpu: LocalGPU, at: datetime, temperature: int, slowdown: int | None = 88) -> None:
    GpuTelemetry.objects.create(gpu=gpu, received_at=at, temperature_c=temperature,
                                slowdown_temperature_c=slowdown, simulated=True)


def test_an_overheated_gpu_raises_one_alert_and_resolves_once_it_cools(
        staff, webhook, mailoutbox):
    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-1",
                                  uuid="GPU-SIM-1", simulated=True)
    now = timezone.now()
    sample(gpu, now, 70)
    assert passes(now)[0] == {"raised": 0, "resolved": 0, "sent": 0}
    sample(gpu, now + 5 * MINUTE, 89)
    results = passes(now + 5 * MINUTE)
    assert [r["raised"] for r in results] == [1, 0, 0]
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.severity) == (
        Kind.GPU_OVERHEATING, f"gpu:{gpu.pk}", Severity.CRITICAL)
    assert "89 °C (slowdown at 88 °C)" in alert.message
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["sam@example.org"]
    assert "GPU overheating" in mailoutbox[0].subject
    assert webhook.states() == [(Kind.GPU_OVERHEATING, f"gpu:{gpu.pk}", "raised")]
    assert alert.notified_at is not None and alert.resolved_at is None

    sample(gpu, now + 10 * MINUTE, 60)
    results = passes(now + 10 * MINUTE)
    assert [r["resolved"] for r in results] == [1, 0, 0]
    alert.refresh_from_db()
    assert alert.resolved_at == now + 10 * MINUTE and alert.resolved_notified_at is not None
    assert len(mailoutbox) == 2 and "RESOLVED" in mailoutbox[1].subject
    assert webhook.states()[1:] == [(Kind.GPU_OVERHEATING, f"gpu:{gpu.pk}", "resolved")]
    assert webhook.posts[1]["resolved_at"] == alert.resolved_at.isoformat()
    # Overheating again is a new alert: the constraint holds open ones only.
    sample(gpu, now + 20 * MINUTE, 95, slowdown=None)
    assert passes(now + 20 * MINUTE)[0]["raised"] == 1
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_a_silent_agent_raises_one_alert_and_resolves_when_it_beats(
        staff, webhook, mailoutbox, settings):
    now = timezone.now()
    agent = Agent.objects.create(name="ws-2", scope="local", credential_hash="a" * 64,
                                 last_heartbeat=now)
    assert passes(now + timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S - 1), 1)[0][
        "raised"] == 0
    silent = now + timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S + 1)
    assert [r["raised"] for r in passes(silent)] == [1, 0, 0]
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject) == (Kind.AGENT_SILENT, f"agent:{agent.pk}")
    assert len(mailoutbox) == 1 and webhook.states() == [
        (Kind.AGENT_SILENT, f"agent:{agent.pk}", "raised")]

    later = silent + 5 * MINUTE
    Agent.objects.filter(pk=agent.pk).update(last_heartbeat=later)
    assert [r["resolved"] for r in passes(later, 2)] == [1, 0]  # beats within 90 s
    assert len(mailoutbox) == 2 and [s for *_, s in webhook.states()] == ["raised", "resolved"]


def test_the_budget_raises_at_80_and_at_100_percent_once_each(staff, webhook, mailoutbox):
    policy = PlacementPolicy.current()
    policy.monthly_budget = Decimal("100")
    policy.save()
    CloudInstance.objects.create(provider="subprocess", offer_id="x", gpu_class=24,
                                 price_per_hour=10.0, state=InstanceState.BUSY,
                                 launched_at=MID_MONTH)
    hour = timedelta(hours=1)
    assert passes(MID_MONTH + 7 * hour, 1)[0]["raised"] == 0  # 70 of 100
    assert [r["raised"] for r in passes(MID_MONTH + 8 * hour)] == [1, 0, 0]  # 80..80.3
    assert [a.kind for a in Alert.objects.all()] == [Kind.BUDGET_80]
    assert [r["raised"] for r in passes(MID_MONTH + 10 * hour)] == [1, 0, 0]  # 100
    assert sorted(Alert.objects.filter(resolved_at__isnull=True)
                  .values_list("kind", flat=True)) == [Kind.BUDGET_100, Kind.BUDGET_80]
    assert len(mailoutbox) == 2
    assert webhook.states() == [(Kind.BUDGET_80, "budget", "raised"),
                                (Kind.BUDGET_100, "budget", "raised")]

    policy.monthly_budget = Decimal("1000")
    policy.save()
    assert [r["resolved"] for r in passes(MID_MONTH + 11 * hour)] == [2, 0, 0]
    assert len(mailoutbox) == 4 and len(webhook.posts) == 4
    assert {s for *_, s in webhook.states()[2:]} == {"resolved"}


def test_a_webhook_that_fails_is_retried_next_pass_and_not_sent_twice(
        staff, webhook, mailoutbox):
    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-3",
                                  uuid="GPU-SIM-3", simulated=True)
    now = timezone.now()
    sample(gpu, now, 92)
    webhook.answers = [500]
    assert evaluate(now) == {"raised": 1, "resolved": 0, "sent": 1}  # the e-mail only
    alert = Alert.objects.get()
    assert alert.notified_at is None and alert.mailed_at is not None
    assert "500" in alert.last_error
    assert webhook.attempts == 1 and webhook.posts == []
    assert evaluate(now + MINUTE)["sent"] == 1
    assert evaluate(now + 2 * MINUTE)["sent"] == 0
    assert webhook.attempts == 2 and len(webhook.posts) == 1 and len(mailoutbox) == 1
    alert.refresh_from_db()
    assert alert.notified_at == now + MINUTE


def test_an_unreachable_webhook_does_not_stop_the_pass(staff, mailoutbox, settings):
    settings.AIMA_ALERT_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens"
    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-4",
                                  uuid="GPU-SIM-4", simulated=True)
    now = timezone.now()
    sample(gpu, now, 92)
    assert evaluate(now)["raised"] == 1
    assert len(mailoutbox) == 1 and Alert.objects.get().notified_at is None


def test_the_database_keeps_one_open_alert_per_kind_and_subject():
    fields = {"kind": Kind.QUEUE_WAIT, "subject": "queue", "severity": Severity.WARNING,
              "message": "m", "raised_at": timezone.now()}
    Alert.objects.create(**fields, resolved_at=timezone.now())
    Alert.objects.create(**fields)
    with pytest.raises(IntegrityError):
        Alert.objects.create(**fields)


def test_recent_alerts_lists_open_ones_first():
    now = timezone.now()
    old = Alert.objects.create(kind=Kind.GPU_FAILED, subject="gpu:1", severity="critical",
                               message="m", raised_at=now, resolved_at=now + MINUTE)
    new = Alert.objects.create(kind=Kind.GPU_FAILED, subject="gpu:2", severity="critical",
                               message="m", raised_at=now - MINUTE)
    assert recent_alerts(10) == [new, old]
    assert recent_alerts(1) == [new]


def test_the_beat_runs_the_pass_every_minute_on_the_control_queue():
    schedule_periodic_tasks(app)
    assert EVERY_S == 60
    assert app.conf.beat_schedule["alerts"] == {"task": TaskName.ALERTS.value, "schedule": 60.0}
    assert route_task(TaskName.ALERTS.value, (), {}, {}) == {"queue": CONTROL_QUEUE}


def test_the_task_runs_a_pass_now(staff, webhook, mailoutbox):
    from aima_web.alerts.tasks import evaluate_alerts

    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-6",
                                  uuid="GPU-SIM-6", simulated=True)
    sample(gpu, timezone.now(), 99, slowdown=90)
    assert evaluate_alerts.name == TaskName.ALERTS.value and evaluate_alerts.name in app.tasks
    assert evaluate_alerts() == {"raised": 1, "resolved": 0, "sent": 2}
    assert evaluate_alerts() == {"raised": 0, "resolved": 0, "sent": 0}
    assert len(mailoutbox) == 1 and len(webhook.posts) == 1

"""The alert pass (on the beat, every ``EVERY_S``): raise an alert for each
new finding, resolve the open ones whose condition cleared, and tell staff
what they have not been told yet. Idempotent: a second pass at the same
moment raises, resolves and sends nothing."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from aima_web.alerts import conditions, notify
from aima_web.alerts.models import Alert

log = logging.getLogger(__name__)

# How often the beat runs the pass (seconds).
EVERY_S = 60.0


def raise_new(findings: list[conditions.Finding], now: datetime) -> int:
    """One open alert per kind and subject: the database's conditional unique
    constraint refuses a second one, from a concurrent pass too."""
    raised = 0
    for finding in findings:
        if Alert.objects.filter(kind=finding.kind, subject=finding.subject,
                                resolved_at__isnull=True).exists():
            continue
        try:
            with transaction.atomic():
                Alert.objects.create(kind=finding.kind, subject=finding.subject,
                                     severity=finding.severity,
                                     message=finding.message[:500], raised_at=now)
        except IntegrityError:  # another pass raised it meanwhile
            continue
        raised += 1
        log.warning("alert raised: %s %s: %s", finding.kind, finding.subject, finding.message)
    return raised


def resolve_cleared(findings: list[conditions.Finding], judged: set, now: datetime) -> int:
    """Open alerts of the kinds judged now whose finding is gone."""
    still = {(f.kind, f.subject) for f in findings}
    resolved = 0
    for alert in Alert.objects.filter(resolved_at__isnull=True, kind__in=judged):
        if (alert.kind, alert.subject) in still:
            continue
        if Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now):
            resolved += 1
            log.info("alert resolved: %s %s", alert.kind, alert.subject)
    return resolved


def notify_pending(now: datetime) -> int:
    """Send what each alert still owes, the raise before the resolve; each
    alert under a row lock so that two passes do not both send it."""
    owing = Alert.objects.filter(Q(notified_at__isnull=True)
                                 | Q(resolved_at__isnull=False, resolved_notified_at__isnull=True))
    sent = 0
    for pk in list(owing.order_by("raised_at", "id").values_list("pk", flat=True)):
        with transaction.atomic():
            alert = Alert.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if alert is None:
                continue
            changed = notify.deliver(alert, "raised", now) if alert.notified_at is None else []
            if alert.notified_at is not None and alert.resolved_at is not None:
                changed += notify.deliver(alert, "resolved", now)
            if changed:
                alert.save(update_fields=sorted(set(changed)))
                sent += sum(1 for f in changed if f in notify.CHANNEL_FIELDS)
    return sent


def evaluate(now: datetime) -> dict[str, int]:
    """One pass; returns what it did (raised, resolved, notifications sent)."""
    findings, judged = conditions.survey(now)
    return {"raised": raise_new(findings, now),
            "resolved": resolve_cleared(findings, judged, now),
            "sent": notify_pending(now)}


def recent_alerts(limit: int = 50) -> list[Alert]:
    """The open alerts, newest first, then the latest resolved ones, ``limit``
    in all: what the dashboard and the API show."""
    open_ = list(Alert.objects.filter(resolved_at__isnull=True).order_by("-raised_at", "-id")
                 [:limit])
    rest = limit - len(open_)
    resolved = list(Alert.objects.filter(resolved_at__isnull=False)
                    .order_by("-resolved_at", "-id")[:rest]) if rest > 0 else []
    return open_ + resolved


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(resolved_at__isnull=True).order_by("-raised_at", "-id"))

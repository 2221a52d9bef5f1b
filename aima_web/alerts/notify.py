"""Telling staff about an alert: one e-mail to every active staff user with an
address, and one JSON POST to the webhook at ``AIMA_ALERT_WEBHOOK_URL`` (none
when unset), once when it is raised and once when it is resolved.

Each channel is recorded apart on the alert, so one that failed is tried again
at the next pass and the other is not sent twice. A channel with nobody to
tell (no staff address, no webhook) counts as done."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from aima_web.alerts.models import Alert

log = logging.getLogger(__name__)

# A slow webhook holds the pass up by this much at most, per alert.
WEBHOOK_TIMEOUT_S = 5.0

# The alert's fields each state's channels are recorded in: e-mail, webhook, both.
FIELDS = {
    "raised": ("mailed_at", "posted_at", "notified_at"),
    "resolved": ("resolved_mailed_at", "resolved_posted_at", "resolved_notified_at"),
}
CHANNEL_FIELDS = frozenset(f for fields in FIELDS.values() for f in fields[:2])


def payload(alert: Alert, state: str) -> dict[str, str | None]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None
    return {"id": str(alert.pk), "kind": alert.kind, "subject": alert.subject,
            "severity": alert.severity, "message": alert.message, "state": state,
            "raised_at": iso(alert.raised_at), "resolved_at": iso(alert.resolved_at)}


def staff_addresses() -> list[str]:
    users = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def mail(alert: Alert, state: str) -> None:
    to = staff_addresses()
    if not to:
        return
    word = "RESOLVED" if state == "resolved" else alert.severity.upper()
    body = json.dumps(payload(alert, state), indent=2)
    send_mail(f"[AIMA {word}] {alert.get_kind_display()}: {alert.subject}",
              f"{alert.message}\n\n{body}\n", None, to)


def post(alert: Alert, state: str) -> None:
    url = settings.AIMA_ALERT_WEBHOOK_URL
    if not url:
        return
    request = urllib.request.Request(
        url, data=json.dumps(payload(alert, state)).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "AIMA alerts"})
    # urlopen raises on an answer other than 2xx/3xx: the channel is retried.
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
        answer.read()


CHANNELS: tuple[Callable[[Alert, str], None], ...] = (mail, post)


def deliver(alert: Alert, state: str, now: datetime) -> list[str]:
    """Send ``state``'s notifications the alert still owes; return the fields
    that changed. A channel that fails is noted and left for the next pass."""
    changed = []
    for channel, field in zip(CHANNELS, FIELDS[state][:2], strict=True):
        if getattr(alert, field) is not None:
            continue
        try:
            channel(alert, state)
        except Exception as exc:  # SMTP, HTTP, DNS: any of them, retried next pass
            log.warning("alert %s: %s notification by %s failed: %s", alert.pk, state,
                        channel.__name__, exc)
            alert.last_error = f"{state} {channel.__name__}: {exc}"[:500]
            changed.append("last_error")
            continue
        setattr(alert, field, now)
        changed.append(field)
    *channels, done = FIELDS[state]
    if getattr(alert, done) is None and all(getattr(alert, f) for f in channels):
        setattr(alert, done, now)
        changed.append(done)
    return changed

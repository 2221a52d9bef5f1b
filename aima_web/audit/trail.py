"""Writing to the audit trail, with one spelling for every kind of actor."""

from __future__ import annotations

from typing import Any

from aima_web.audit.models import AuditEvent

SYSTEM = "system"


def user_actor(user: Any) -> str:
    return f"user:{user.get_username()}" if user and user.is_authenticated else "anonymous"


def agent_actor(agent_id: int) -> str:
    return f"agent:{agent_id}"


def record(actor: str, action: str, subject: str, **detail: Any) -> AuditEvent:
    return AuditEvent.objects.create(actor=actor, action=action, subject=subject, detail=detail)

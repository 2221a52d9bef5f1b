"""Writing to the audit trail, with one spelling for every kind of actor.

Every event is appended to the hash chain (``chain.py``): the append reads the
chain's head and writes the next link under a lock, so two writers can never
both extend the same head.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from aima_web.audit import chain
from aima_web.audit.models import AuditEvent

SYSTEM = "system"

# pg_advisory_xact_lock's key for "the audit chain's head" (any fixed 64-bit number).
_CHAIN_LOCK = 0x41494D4141554454  # "AIMAAUDT"


def user_actor(user: Any) -> str:
    return f"user:{user.get_username()}" if user and user.is_authenticated else "anonymous"


def agent_actor(agent_id: int) -> str:
    return f"agent:{agent_id}"


def record(actor: str, action: str, subject: str, **detail: Any) -> AuditEvent:
    """Append an event. Inside an outer transaction the event commits (or rolls
    back) with it, and the chain stays locked until then: a second writer waits
    rather than forking the chain from a head it cannot see yet. So record
    after taking the transaction's row locks, not before: holding the chain
    while waiting for a row whose holder waits for the chain is a deadlock."""
    with transaction.atomic():
        _lock_chain()
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
        event = AuditEvent(
            seq=seq, created_at=timezone.now(), actor=_fit(actor, "actor"),
            action=_fit(action, "action"), subject=_fit(subject, "subject"),
            detail=chain.json_safe(detail), prev_hash=prev_hash)
        event.hash = chain.digest(event.chain_fields())
        event.save(force_insert=True)
    return event


def record_read(user: Any, what: str, subject: str, **detail: Any) -> AuditEvent:
    """A user read something confidential enough to be on record (results, a report)."""
    return record(user_actor(user), what, subject, **detail)


def _lock_chain() -> None:
    # SQLite already serialises writers: AIMA opens its transactions IMMEDIATE,
    # which takes the database's write lock before the head is read.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def _fit(text: str, field: str) -> str:
    """The text, cut to its column (a login name tried can be any length)."""
    return chain.json_safe(str(text))[:AuditEvent._meta.get_field(field).max_length]


def client_address(request: HttpRequest) -> str:
    """The client's address as DRF's throttles find it: behind AIMA_HTTPS's proxy
    (NUM_PROXIES) the entry that proxy added to X-Forwarded-For, else REMOTE_ADDR.
    The lockout counts the same address (AXES_CLIENT_IP_CALLABLE)."""
    return BaseThrottle().get_ident(request)


def client(request: HttpRequest | None) -> dict[str, str]:
    """Where the request came from. X-Forwarded-For is the client's own claim
    (but for the entry a proxy of ours added), so it is kept beside the address."""
    if request is None:
        return {}
    found = {"ip": client_address(request)}
    if request.META.get("HTTP_X_FORWARDED_FOR"):
        found["forwarded_for"] = request.META["HTTP_X_FORWARDED_FOR"][:200]
    return found

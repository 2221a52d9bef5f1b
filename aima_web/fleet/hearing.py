"""Whether the control plane could hear its agents, and so which silent agents
are lost.

An agent is lost when it sent no heartbeat for ``AIMA_AGENT_OFFLINE_AFTER_S``.
But a heartbeat can only be recorded while the database is up: after a
database outage every agent looks silent, though none was. Each fleet health
round (every ``AIMA_FLEET_HEALTH_S``, on the beat) notes that it ran; a round
that finds the previous one more than ``DEAF_ROUNDS`` intervals ago knows the
control plane was deaf meanwhile, and starts hearing afresh. Until it has
heard for ``AIMA_AGENT_OFFLINE_AFTER_S`` no agent is declared lost: the agents
that are alive have beaten by then. (Kubernetes' node controller stops
evicting when every node turns unready at once, for the same reason.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction

from aima_web.fleet.models import Hearing

# Missed rounds (the beat's interval each) after which the control plane counts
# as having been deaf: one late round is a busy worker, not an outage.
DEAF_ROUNDS = 3
# Before the first round was ever recorded nothing says the control plane was
# deaf: silence counts from the start.
ALWAYS = datetime(2000, 1, 1, tzinfo=UTC)


def lost_before(now: datetime) -> datetime | None:
    """An agent whose last heartbeat is older than this is lost; None while the
    control plane has not heard long enough to tell (nobody is lost then)."""
    cutoff = now - timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
    since = Hearing.objects.values_list("since", flat=True).first() or ALWAYS
    return cutoff if since <= cutoff else None


def round_ran(now: datetime) -> bool:
    """Note that a fleet health round runs now; return True when the previous
    one was too long ago, so that hearing starts again from ``now``."""
    gap = timedelta(seconds=settings.AIMA_FLEET_HEALTH_S * DEAF_ROUNDS)
    with transaction.atomic():
        row = Hearing.objects.select_for_update().first()
        if row is None:
            Hearing.objects.create(since=ALWAYS, last_round_at=now)
            return False
        deaf = now - row.last_round_at > gap
        if deaf:
            row.since = now
        row.last_round_at = max(row.last_round_at, now)
        row.save(update_fields=["since", "last_round_at"])
    return deaf

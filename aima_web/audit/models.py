"""The audit trail: who did what, to what, when — each event chained to the one before."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from aima_web.audit import chain


class AuditEvent(models.Model):
    # Position in the hash chain: 1, 2, 3, … with no gaps (trail.record assigns it).
    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    # Set before hashing, not by the database: the hash covers it.
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # "user:alice", "agent:7" or "system": a string, so that the trail outlives
    # the users and agents it names.
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    subject = models.CharField(max_length=100, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.subject}"

    def chain_fields(self) -> dict[str, Any]:
        """The row as the chain hashes and exports it."""
        return {"id": self.id, "seq": self.seq, "created_at": chain.timestamp(self.created_at),
                "actor": self.actor, "action": self.action, "subject": self.subject,
                "detail": self.detail, "prev_hash": self.prev_hash, "hash": self.hash}

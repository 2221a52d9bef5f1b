"""The audit trail: who did what, to what, when."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # "user:alice", "agent:7" or "system": a string, so that the trail outlives
    # the users and agents it names.
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    subject = models.CharField(max_length=100, db_index=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.subject}"

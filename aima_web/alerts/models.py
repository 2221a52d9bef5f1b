"""Alerts AIMA raises itself (for a control plane without Prometheus): one
open alert per condition and subject, the database sees to that, and when
each was told to staff by e-mail and webhook, on raising and on resolving."""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    GPU_OVERHEATING = "gpu_overheating", "GPU overheating"
    GPU_FAILED = "gpu_failed", "GPU failed"
    AGENT_SILENT = "agent_silent", "Agent silent"
    QUEUE_WAIT = "queue_wait", "Queue wait above target"
    BUDGET_80 = "budget_80", "Monthly budget 80 % spent"
    BUDGET_100 = "budget_100", "Monthly budget spent"
    INSTANCE_IDLE = "instance_idle", "Cloud instance running without a job"
    JOB_FAILURE_RATE = "job_failure_rate", "Job failure rate"


class Severity(models.TextChoices):
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(models.Model):
    kind = models.CharField(max_length=24, choices=Kind.choices)
    subject = models.CharField(
        max_length=100, help_text='What it is about, e.g. "gpu:3", "agent:7", "budget".')
    severity = models.CharField(max_length=8, choices=Severity.choices)
    message = models.CharField(max_length=500)
    raised_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Per channel, so that a channel that failed is retried without the other
    # one sending twice; notified_at/resolved_notified_at once every channel has it.
    mailed_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_mailed_at = models.DateTimeField(null=True, blank=True)
    resolved_posted_at = models.DateTimeField(null=True, blank=True)
    resolved_notified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True,
                                  help_text="Why the last notification failed (retried).")

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject"],
                                    condition=models.Q(resolved_at__isnull=True),
                                    name="one_open_alert_per_subject"),
        ]
        indexes = [models.Index(fields=["notified_at"], name="alerts_unnotified"),
                   models.Index(fields=["resolved_notified_at"], name="alerts_resolve_unnotified")]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "open"
        return f"{self.get_kind_display()} {self.subject} ({state})"

    @property
    def state(self) -> str:
        return "resolved" if self.resolved_at else "raised"

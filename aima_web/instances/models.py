"""Cloud GPU instances AIMA rents, and where each one is in its life."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone

from aima_web.fleet.models import Agent, EnrollmentToken


class InstanceState(models.TextChoices):
    REQUESTED = "requested"        # wanted; nothing asked of a provider yet
    PROVISIONING = "provisioning"  # the provider is being asked for it
    BOOTING = "booting"            # launched; its agent has not registered yet
    READY = "ready"                # its agent registered; no job has run yet
    BUSY = "busy"                  # running a job
    IDLE = "idle"                  # between jobs; paused or terminated after the idle grace
    PAUSING = "pausing"            # being stopped, its disk kept; a job on it is requeued
    PAUSED = "paused"              # stopped, billed at the storage price; resumed for work
    RESUMING = "resuming"          # started again; its agent has not registered again yet
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"              # never became ready, or lost its agent; terminated


class CloudInstance(models.Model):
    provider = models.CharField(max_length=60, db_index=True)
    offer_id = models.CharField(max_length=255)
    instance_type = models.CharField(max_length=120, blank=True)
    gpu_model = models.CharField(max_length=100, blank=True)
    gpu_class = models.PositiveSmallIntegerField(help_text="The GPU queue class it serves (GB).")
    region = models.CharField(max_length=60, blank=True)
    spot = models.BooleanField(default=False)
    price_per_hour = models.FloatField(default=0.0)
    provider_instance_id = models.CharField(max_length=120, blank=True, db_index=True)
    state = models.CharField(max_length=12, choices=InstanceState.choices,
                             default=InstanceState.REQUESTED, db_index=True)
    enrollment_token = models.OneToOneField(EnrollmentToken, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="instance")
    agent = models.OneToOneField(Agent, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="instance")
    # Offers that failed to launch for this instance, so the next try skips them.
    tried_offers = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    # When the beat looks at it next: a requested instance's launch is due
    # then; a provisioning one's launch has taken too long by then.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    idle_since = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True,
                             help_text="Running seconds times the price per hour plus paused "
                                       "seconds times the paused price, once terminated.")
    # What it bills per hour while paused (its disk), learnt from its provider.
    paused_price_per_hour = models.FloatField(null=True, blank=True)
    # Its pauses, [from, to] as ISO times, the last one open (to: null) while paused:
    # billing counts them at the paused price, month by month.
    pauses = models.JSONField(default=list, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When it was last asked to resume.")
    # The idle policy's last decision about it (aima_tasks/kernel/idle_policy.py).
    idle_decision = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider} {self.instance_type or self.offer_id}, {self.state})"

    @property
    def name(self) -> str:
        return f"aima-{self.pk}"

    def billed_seconds(self, until: datetime | None = None) -> float:
        """From launch to its end (or ``until``), paused time included."""
        if self.launched_at is None:
            return 0.0
        end = self.terminated_at or until or timezone.now()
        return max((end - self.launched_at).total_seconds(), 0.0)

    def paused_seconds(self, begin: datetime | None = None,
                       until: datetime | None = None) -> float:
        """Of its billed time, the seconds it was paused (within ``begin``..``until``)."""
        end = self.terminated_at or until or timezone.now()
        if until is not None:
            end = min(end, until)
        total = 0.0
        for start, stop in pause_spans(self.pauses):
            low = max(start, begin) if begin else start
            high = min(stop or end, end)
            total += max((high - low).total_seconds(), 0.0)
        return total


def pause_spans(pauses: list[list[str | None]]) -> list[tuple[datetime, datetime | None]]:
    """A row's pauses as (from, to) datetimes; ``to`` is None while it is paused."""
    def when(stamp: str | None) -> datetime | None:
        return datetime.fromisoformat(stamp) if stamp else None
    return [(datetime.fromisoformat(start), when(stop)) for start, stop in pauses]

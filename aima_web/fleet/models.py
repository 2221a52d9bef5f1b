"""The GPU fleet: local GPUs (registered by hand or by an agent), the agents
that serve them, and the enrollment tokens agents join with."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from aima_tasks.routing import Scope

CUDA_VERSION_RE = re.compile(r"^\d{1,2}\.\d{1,2}$")


def validate_cuda_version(value: str) -> None:
    if not CUDA_VERSION_RE.match(value):
        raise ValidationError(f"{value!r} is not a CUDA version; write it like 12.4")


class EnrollmentToken(models.Model):
    """A bootstrap token an agent exchanges for its own credential."""

    label = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.label

    def usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())


class Agent(models.Model):
    """A process on a GPU host that consumes GPU queues."""

    name = models.CharField(max_length=150, help_text="Host name the agent reported.")
    scope = models.CharField(max_length=8, choices=[(s.value, s.value) for s in Scope])
    credential_hash = models.CharField(max_length=64, unique=True, editable=False)
    enrolled_with = models.ForeignKey(EnrollmentToken, null=True, blank=True,
                                      on_delete=models.SET_NULL, editable=False)
    queues = models.JSONField(default=list, blank=True, editable=False)
    version = models.CharField(max_length=40, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope})"

    @property
    def online(self) -> bool:
        if self.last_heartbeat is None:
            return False
        limit = timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
        return timezone.now() - self.last_heartbeat < limit


class LocalGPU(models.Model):
    """An on-premises GPU: the only place confidential media may be analysed."""

    class Status(models.TextChoices):
        AVAILABLE = "available"
        BUSY = "busy"
        OFFLINE = "offline"
        MAINTENANCE = "maintenance"
        RETIRED = "retired"

    model = models.CharField(max_length=100, help_text="e.g. NVIDIA GeForce RTX 4090")
    uuid = models.CharField(max_length=80, unique=True, null=True, blank=True,
                            help_text="NVML UUID; filled in by the agent that serves this GPU.")
    vram_gb = models.FloatField(validators=[MinValueValidator(1)], verbose_name="VRAM (GB)")
    cuda_version = models.CharField(max_length=8, default="12.4",
                                    validators=[validate_cuda_version])
    host = models.CharField(max_length=150)
    location = models.CharField(max_length=150, blank=True)
    availability_schedule = models.CharField(
        max_length=200, default="24/7",
        help_text="When the GPU may take work, e.g. 24/7 or Mon-Fri 18:00-08:00.")
    access_restrictions = models.JSONField(
        default=list, blank=True,
        help_text='Groups allowed to use this GPU, e.g. ["forensics"]; empty means everyone.')
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.AVAILABLE)
    simulated = models.BooleanField(
        default=False, help_text="No real GPU behind it: an agent run with --simulate-gpu.")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="gpus")
    registered_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host", "model", "id"]
        verbose_name = "local GPU"

    def __str__(self) -> str:
        label = f"{self.model} {self.vram_gb:g} GB @ {self.host}"
        return f"{label} (simulated)" if self.simulated else label

    def clean(self) -> None:
        restrictions = self.access_restrictions
        if not isinstance(restrictions, list) or not all(isinstance(g, str) for g in restrictions):
            raise ValidationError(
                {"access_restrictions": 'a list of group names, e.g. ["forensics"]'})

    def retire(self) -> None:
        self.status = self.Status.RETIRED
        self.retired_at = timezone.now()
        self.save(update_fields=["status", "retired_at"])

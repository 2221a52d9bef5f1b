"""Model files that analyzers load, kept by their content under
``AIMA_MODEL_ROOT``. Agents fetch one by its SHA-256 and refuse it when the
bytes they received hash to anything else."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from aima_tasks.kernel.analyses import Precision
from aima_web.core import content
from aima_web.core.choices import choices

SHA256 = RegexValidator(r"^[0-9a-f]{64}$", "a SHA-256: 64 lower-case hex digits")


class ModelStatus(models.TextChoices):
    # Jobs use it (one active version per name).
    ACTIVE = "active"
    # A share of jobs (canary_share) use it instead of the active version of its name.
    CANARY = "canary"
    RETIRED = "retired"


class ModelArtifact(models.Model):
    name = models.CharField(max_length=100, help_text="e.g. yolov8n-person")
    version = models.CharField(max_length=40)
    task = models.CharField(
        max_length=60, blank=True,
        help_text="What it does, matching an analysis's model task, e.g. person-detection; "
                  "empty: fetched by checksum only.")
    sha256 = models.CharField(max_length=64, unique=True, validators=[SHA256])
    size_bytes = models.PositiveBigIntegerField()
    filename = models.CharField(
        max_length=200, help_text="What agents save it as (loaders go by the extension).")
    min_vram_gb = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0)],
        help_text="The GPU memory it needs; agents with less pick a smaller variant.")
    precision = models.CharField(max_length=4, choices=choices(Precision),
                                 default=Precision.FP32.value)
    status = models.CharField(max_length=8, choices=ModelStatus.choices,
                              default=ModelStatus.RETIRED, db_index=True)
    canary_share = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="For a canary: the share of jobs (0-1) that use it.")
    config = models.JSONField(
        default=dict, blank=True,
        help_text='Loader options, e.g. {"labels": ["person", "bicycle"], "input_size": 640}.')
    added_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(
        null=True, blank=True, help_text="When it last became active: rollback returns to the "
                                         "version activated before the current one.")
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="For an enrolment (a voice, a face): when retiring "
                                         "it erased its file; it cannot be active again.")

    class Meta:
        ordering = ["name", "-added_at"]
        constraints = [models.UniqueConstraint(fields=["name", "version"],
                                               name="one_artifact_per_name_and_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.sha256[:12]})"

    @property
    def path(self) -> Path:
        return content.address(Path(settings.AIMA_MODEL_ROOT), self.sha256)

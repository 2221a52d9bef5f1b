"""Model files that analyzers load, kept by their content under
``AIMA_MODEL_ROOT``. Agents fetch one by its SHA-256 and refuse it when the
bytes they received hash to anything else."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from aima_web.core import content

SHA256 = RegexValidator(r"^[0-9a-f]{64}$", "a SHA-256: 64 lower-case hex digits")


class ModelArtifact(models.Model):
    name = models.CharField(max_length=100, help_text="e.g. yolov8n-person")
    version = models.CharField(max_length=40)
    sha256 = models.CharField(max_length=64, unique=True, validators=[SHA256])
    size_bytes = models.PositiveBigIntegerField()
    filename = models.CharField(
        max_length=200, help_text="What agents save it as (loaders go by the extension).")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-added_at"]
        constraints = [models.UniqueConstraint(fields=["name", "version"],
                                               name="one_artifact_per_name_and_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.sha256[:12]})"

    @property
    def path(self) -> Path:
        return content.address(Path(settings.AIMA_MODEL_ROOT), self.sha256)

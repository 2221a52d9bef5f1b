"""How long media and results are kept, and the legal holds that keep them longer."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aima_tasks.kernel.classification import Confidentiality
from aima_web.core.choices import choices


class RetentionPolicy(models.Model):
    """How long after a job finished its media and results are kept, per confidentiality.

    A period left empty keeps them for ever; so does a confidentiality without a row.
    """

    confidentiality = models.CharField(max_length=12, choices=choices(Confidentiality),
                                       unique=True)
    media_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Days after the job finished that its media are kept; empty: for ever. A "
                  "file shared with a job still keeping it stays.")
    results_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Days after the job finished that its results are kept; empty: for ever.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policies"
        ordering = ["confidentiality"]

    def __str__(self) -> str:
        def days(value: int | None) -> str:
            return "for ever" if value is None else f"{value} days"
        return (f"{self.confidentiality}: media {days(self.media_days)}, "
                f"results {days(self.results_days)}")


class LegalHold(models.Model):
    """Keeps a job's media and results past their retention, and from erasure."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="legal_hold")
    reason = models.CharField(max_length=300, help_text="Why, e.g. the case or request it "
                                                        "serves.")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"legal hold on {self.job_id}"

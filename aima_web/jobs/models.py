"""Media, jobs and their results."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_web.core import content
from aima_web.core.choices import choices
from aima_web.jobs.states import SOURCES, STAMP_FIELD, JobState
from aima_web.privacy.fields import EncryptedJSONField


class MediaAsset(models.Model):
    """An uploaded file, stored once by content however often it is submitted."""

    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    media_type = models.CharField(max_length=8, choices=[(t.value, t.value) for t in MediaType])
    metadata = models.JSONField(default=dict, blank=True,
                                help_text="What the probe read from the content.")
    probed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the file was deleted because no job needed it any more (retention, "
                  "erasure); a new upload of the same content stores it again.")

    def __str__(self) -> str:
        return f"{self.media_type} {self.sha256[:12]}"


def content_path(sha256: str) -> Path:
    return content.address(Path(settings.AIMA_MEDIA_ROOT), sha256)


validate_region = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9-]*$",
    "write a region or its prefix, e.g. EU, EU-NL or us-east-1 (letters, digits, hyphens)")


class JobQuerySet(models.QuerySet):
    def transition(self, job_id: uuid.UUID | str, to: JobState,
                   among: Iterable[JobState] | None = None, **fields: Any) -> bool:
        """Move a job to ``to`` if its current state allows it (and is among
        ``among``, where a caller wants fewer); return whether it moved.

        One conditional UPDATE, so concurrent movers (a cancel racing a worker,
        a redelivered task) cannot both win.
        """
        now = timezone.now()
        fields[STAMP_FIELD[to]] = now
        sources = SOURCES[to] if among is None else SOURCES[to] & frozenset(among)
        moved = self.filter(pk=job_id, state__in=sources).update(
            state=to, updated_at=now, **fields)
        return moved == 1


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="jobs")
    media = models.ForeignKey(MediaAsset, on_delete=models.PROTECT, related_name="jobs")
    media_name = models.CharField(max_length=255, blank=True,
                                  help_text="The name given at upload; never trusted for type.")
    confidentiality = models.CharField(max_length=12, choices=choices(Confidentiality))
    urgency = models.CharField(max_length=8, choices=choices(Urgency),
                               default=Urgency.NORMAL.value)
    region = models.CharField(
        max_length=32, blank=True, validators=[validate_region],
        help_text="Data residency: cloud offers must be in a region starting with this, e.g. "
                  "EU; empty: any region.")
    priority = models.IntegerField(default=0, help_text="Higher runs first where jobs queue.")
    requested_analyses = models.JSONField(
        default=list, blank=True, help_text="Empty: every analysis that applies to the media.")
    analyses = models.JSONField(default=list, blank=True,
                                help_text="The analyses placement settled on.")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.RECEIVED,
                             db_index=True)
    error = models.TextField(blank=True)
    placement = models.JSONField(null=True, blank=True)
    agent = models.ForeignKey("fleet.Agent", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="jobs")
    gpu = models.ForeignKey("fleet.LocalGPU", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="jobs")
    cost = models.FloatField(null=True, blank=True,
                             help_text="What its run cost on a rented instance: running "
                                       "seconds times the instance's price per hour.")
    segments = models.JSONField(
        default=list, blank=True,
        help_text="[start_s, end_s] of each time segment the media was cut into for parallel "
                  "work; empty: analysed whole.")
    wait_reason = models.CharField(
        max_length=300, blank=True,
        help_text="Why a queued job has no GPU yet, e.g. a cap on cloud instances.")
    deadline = models.DateTimeField(
        null=True, blank=True,
        help_text="When the submitter needs the results by: off-peak deferral never holds the "
                  "job past it. Empty: the policy's default for its urgency "
                  "(AIMA_DEADLINE_LOW_S, AIMA_DEADLINE_NORMAL_S).")
    deferred_until = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="Deferred to off-peak hours: when it is placed again; kept once released.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    probing_at = models.DateTimeField(null=True, blank=True)
    placing_at = models.DateTimeField(null=True, blank=True)
    deferred_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When every unit of the queued job was published; empty while queued: "
                  "the sweeper (or a redelivered place) still has to send them.")
    running_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    results_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention or an erasure deleted its results.")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.id} ({self.state})"

    @property
    def subject(self) -> str:
        return f"job:{self.id}"


class AgentResult(models.Model):
    """What an agent made of one analysis, and how."""

    # Sealed at rest (AIMA_KEYRING); the database never holds them in clear.
    data = EncryptedJSONField()
    meta = EncryptedJSONField(
        default=dict, blank=True,
        help_text="How it was made: models (name, version, sha256), device, precision, "
                  "batch size, segments.")
    agent = models.ForeignKey("fleet.Agent", null=True, blank=True, on_delete=models.SET_NULL)
    gpu_uuid = models.CharField(max_length=80, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class AnalysisResult(AgentResult):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="results")
    analysis = models.CharField(max_length=64)

    class Meta:
        ordering = ["job", "analysis"]
        # A redelivered task writes the same row again instead of a second one.
        constraints = [models.UniqueConstraint(fields=["job", "analysis"],
                                               name="one_result_per_analysis")]

    def __str__(self) -> str:
        return f"{self.analysis} for {self.job_id}"

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class SegmentResult(AgentResult):
    """One analysis of one time segment, stored as soon as its agent is done with it:
    a redelivered or failed-over job redoes only the segments missing here."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="segment_results")
    analysis = models.CharField(max_length=64)
    index = models.PositiveIntegerField()

    class Meta:
        ordering = ["job", "analysis", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "analysis", "index"],
                                               name="one_result_per_segment")]

    def __str__(self) -> str:
        return f"{self.analysis} segment {self.index} for {self.job_id}"

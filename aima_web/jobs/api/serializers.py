from __future__ import annotations

from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aima_tasks.kernel.analyses import UnknownAnalysis, catalogue
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_web.access.redaction import sees_fleet
from aima_web.core.choices import choices
from aima_web.instances.preemption import rework
from aima_web.jobs import progress as job_progress
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset, validate_region
from aima_web.placement.api.schema import DecisionSerializer


class AnalysesField(serializers.ListField):
    """A list of analysis names; multipart forms may also send them comma-separated."""

    child = serializers.CharField()

    def to_internal_value(self, data):
        names = [part.strip() for item in super().to_internal_value(data)
                 for part in item.split(",") if part.strip()]
        try:
            return catalogue().check_names(names)
        except UnknownAnalysis as exc:
            raise serializers.ValidationError(str(exc)) from None


class JobCreateSerializer(serializers.Serializer):
    media = serializers.FileField(allow_empty_file=False, required=False,
                                  help_text="The file; or name a finished upload instead.")
    upload = serializers.UUIDField(
        required=False, help_text="A finished resumable upload (/api/v1/uploads/) instead "
                                  "of media; the job takes its file.")
    confidentiality = serializers.ChoiceField(choices=choices(Confidentiality))
    urgency = serializers.ChoiceField(choices=choices(Urgency), default=Urgency.NORMAL.value)
    analyses = AnalysesField(
        required=False, default=list,
        help_text=f"Any of {', '.join(catalogue().specs)}; empty: all that apply.")
    region = serializers.CharField(
        max_length=32, required=False, default="", allow_blank=True, validators=[validate_region],
        help_text="Data residency: only cloud offers in regions starting with this, e.g. EU.")
    priority = serializers.IntegerField(
        required=False, default=0, min_value=-1000, max_value=1000,
        help_text="Higher runs first where jobs queue (-1000 to 1000).")
    deadline = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="When the results are needed by (ISO 8601 with its zone), in the future: "
                  "a job of low or normal urgency may be held for cheaper off-peak hours, "
                  "never past it. Empty: the policy's default for its urgency.")

    def validate_deadline(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(
                f"{value.isoformat()} has passed; give a moment in the future")
        return value

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):  # a JSON list or scalar: DRF's own 400 says so
            return super().to_internal_value(data)
        # One of media and upload, refused beside the other fields' errors as a missing
        # required field would be.
        sent = [name for name in ("media", "upload") if data.get(name) not in (None, "")]
        problem = {} if len(sent) == 1 else {"upload" if sent else "media": [
            "send the file as media or name a finished upload, one of them"]}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**problem, **exc.detail}) from None
        if problem:
            raise serializers.ValidationError(problem)
        return values


@extend_schema_field(DecisionSerializer(allow_null=True))
class PlacementField(serializers.JSONField):
    """The placement decision record, as the engine wrote it."""


class MediaSerializer(serializers.ModelSerializer):
    """A job's media. The asset is shared by every job of the same content, so
    nothing here may tell one owner that another uploaded the file before."""

    class Meta:
        model = MediaAsset
        fields = ["sha256", "size_bytes", "media_type", "metadata"]


class JobSerializer(serializers.ModelSerializer):
    media = serializers.SerializerMethodField()
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    gpu = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    placement = PlacementField(read_only=True, allow_null=True)
    rework = serializers.SerializerMethodField(
        help_text="Units of this job that a host handed back unfinished (a spot preemption) "
                  "and the seconds of work they lost, redone elsewhere.")
    progress = serializers.SerializerMethodField(
        help_text="Analysis-segments done of total, the fraction of estimated work done "
                  "(never lower than before) and the ETA: the placement's estimate "
                  "corrected by the speed observed so far; null ETA once failed/cancelled.")

    class Meta:
        model = Job
        fields = [
            "id", "owner", "state", "error", "confidentiality", "urgency", "region", "priority",
            "requested_analyses", "analyses", "media_name", "media", "placement", "agent", "gpu",
            "cost", "rework", "progress", "wait_reason", "deadline", "deferred_until",
            "created_at", "probing_at", "placing_at", "deferred_at", "queued_at", "running_at",
            "finished_at", "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(MediaSerializer)
    def get_media(self, job: Job) -> dict:
        media = MediaSerializer(job.media).data
        if job.placing_at is None:
            # The shared asset's metadata come from an earlier job's probe when the file
            # is known: shown once this job's own probe step is over, as for a new file.
            media["metadata"] = {}
        return media

    @extend_schema_field({"type": "object", "properties": {
        "units_handed_back": {"type": "integer"}, "seconds_lost": {"type": "number"}}})
    def get_rework(self, job: Job) -> dict[str, float]:
        return rework(job.subject)

    @extend_schema_field({"type": "object", "properties": {
        "fraction": {"type": "number"}, "done": {"type": "integer"},
        "total": {"type": "integer"}, "eta_seconds": {"type": "number", "nullable": True},
        "eta_at": {"type": "string", "format": "date-time", "nullable": True},
        "unit": {"type": "string"}}})
    def get_progress(self, job: Job) -> dict:
        return job_progress.of(job)

    def get_gpu(self, job: Job) -> dict | None:
        gpu = job.gpu
        if gpu is None:
            return None
        return {"id": gpu.id, "model": gpu.model, "vram_gb": gpu.vram_gb,
                "host": gpu.host, "simulated": gpu.simulated}

    def get_agent(self, job: Job) -> dict | None:
        agent = job.agent
        if agent is None:
            return None
        request = self.context.get("request")
        if not sees_fleet(request and request.user):
            return {"scope": agent.scope}
        return {"id": agent.id, "name": agent.name, "scope": agent.scope}


class AnalysisResultSerializer(serializers.ModelSerializer):
    duration_s = serializers.FloatField(read_only=True)

    class Meta:
        model = AnalysisResult
        fields = ["analysis", "data", "meta", "gpu_uuid", "started_at", "finished_at",
                  "duration_s"]
        read_only_fields = fields

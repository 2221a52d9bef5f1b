from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aima_tasks.kernel.routing import Scope
from aima_tasks.kernel.telemetry import THROTTLE_REASONS
from aima_web.fleet.models import (
    GpuTelemetry,
    LocalGPU,
    validate_cuda_version,
    validate_performance_profile,
)


class GpuTelemetrySerializer(serializers.ModelSerializer):
    class Meta:
        model = GpuTelemetry
        fields = ["received_at", "activity", "failure", "utilization_pct", "memory_used_gb",
                  "memory_total_gb", "temperature_c", "slowdown_temperature_c", "power_w",
                  "processes", "error", "simulated", "health", "xids", "ecc_corrected",
                  "ecc_uncorrected", "throttle", "retired_pages", "retirement_pending", "lost"]
        read_only_fields = fields


class LocalGPUSerializer(serializers.ModelSerializer):
    agent = serializers.SerializerMethodField()
    latest_sample = serializers.SerializerMethodField(
        help_text="The newest telemetry sample its agent sent; null: none kept.")

    class Meta:
        model = LocalGPU
        fields = ["id", "model", "uuid", "vram_gb", "cuda_version", "host", "location",
                  "availability_schedule", "access_restrictions", "status", "health",
                  "health_reason", "simulated", "performance_profile", "compute_benchmark",
                  "agent", "latest_sample", "registered_at", "retired_at"]
        read_only_fields = fields

    def get_agent(self, gpu: LocalGPU) -> dict | None:
        agent = gpu.agent
        if agent is None:
            return None
        return {"id": agent.id, "name": agent.name, "online": agent.online,
                "last_heartbeat": agent.last_heartbeat}

    @extend_schema_field(GpuTelemetrySerializer(allow_null=True))
    def get_latest_sample(self, gpu: LocalGPU) -> dict | None:
        # The GPU views prefetch it into latest_samples; elsewhere it costs a query.
        samples = getattr(gpu, "latest_samples", None)
        if samples is None:
            samples = list(gpu.telemetry.all()[:1])
        return GpuTelemetrySerializer(samples[0]).data if samples else None


class GpuSummarySerializer(serializers.ModelSerializer):
    """A GPU as everyone with a role sees it: no UUID, host, agent or telemetry
    (its processes), which tell an attacker where to look."""

    class Meta:
        model = LocalGPU
        fields = ["id", "model", "vram_gb", "cuda_version", "location", "availability_schedule",
                  "status", "simulated", "registered_at", "retired_at"]
        read_only_fields = fields


class GpuSettingsSerializer(serializers.ModelSerializer):
    """What staff may change of a GPU over the API: when and where it works."""

    class Meta:
        model = LocalGPU
        fields = ["availability_schedule", "location"]


class ComputeBenchmarkSerializer(serializers.Serializer):
    device = serializers.ChoiceField(choices=["cuda", "cpu"])
    fp32_tflops = serializers.FloatField(min_value=0)
    fp16_tflops = serializers.FloatField(min_value=0)
    memory_gb_per_s = serializers.FloatField(min_value=0)


class ReportedGpuSerializer(serializers.Serializer):
    uuid = serializers.CharField(max_length=80)
    model = serializers.CharField(max_length=100)
    vram_gb = serializers.FloatField(min_value=1)
    cuda_version = serializers.CharField(max_length=8, validators=[validate_cuda_version])
    simulated = serializers.BooleanField(default=False)
    performance_profile = serializers.JSONField(
        required=False, default=None, validators=[validate_performance_profile],
        help_text="The agent's benchmark: seconds per work unit by analysis; omitted when "
                  "it did not run one (the GPU keeps what it had).")
    compute_benchmark = ComputeBenchmarkSerializer(
        required=False, default=None, allow_null=True,
        help_text="FP32/FP16 TFLOPS and memory GB/s as the agent measured them.")


class RegisterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    scope = serializers.ChoiceField(
        choices=[s.value for s in Scope], required=False, default="",
        help_text="Optional: the scope the agent expects. The token decides it; a different "
                  "one is refused (403).")
    version = serializers.CharField(max_length=40, required=False, default="")
    location = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    gpus = ReportedGpuSerializer(many=True, allow_empty=False)


class ServingSerializer(serializers.Serializer):
    serve = serializers.BooleanField(help_text="Whether the GPU takes work now.")
    reason = serializers.CharField(allow_blank=True, help_text="Why not, when it does not.")


class AnswerSerializer(serializers.Serializer):
    gpus = serializers.DictField(
        child=ServingSerializer(),
        help_text="By GPU UUID, for the agent's local GPUs: whether each takes work now "
                  "(not in maintenance, failed or retired, and inside its availability "
                  "window). The agent stops a GPU's worker after the task at hand when not.")


class RegisteredSerializer(AnswerSerializer):
    agent_id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=[s.value for s in Scope],
                                    help_text="The agent's scope, from its enrollment token.")
    credential = serializers.CharField(help_text="Shown once; send as `Authorization: Agent …`.")
    queues = serializers.ListField(child=serializers.CharField())


class GpuProcessSerializer(serializers.Serializer):
    pid = serializers.IntegerField(min_value=0)
    used_memory_gb = serializers.FloatField(min_value=0, allow_null=True, default=None)


class GpuSampleReportSerializer(serializers.Serializer):
    """One GPU's telemetry as an agent reports it (``GpuSample.to_report()``);
    null for a figure the GPU does not report."""

    uuid = serializers.CharField(max_length=80)
    utilization_pct = serializers.IntegerField(min_value=0, max_value=100, allow_null=True,
                                               default=None)
    memory_used_gb = serializers.FloatField(min_value=0, allow_null=True, default=None)
    memory_total_gb = serializers.FloatField(min_value=0, allow_null=True, default=None)
    # 200 °C is past any GPU's shutdown point: such a reading is garbage.
    temperature_c = serializers.IntegerField(min_value=0, max_value=200, allow_null=True,
                                             default=None)
    slowdown_temperature_c = serializers.IntegerField(min_value=0, max_value=200,
                                                      allow_null=True, default=None)
    power_w = serializers.FloatField(min_value=0, allow_null=True, default=None)
    processes = GpuProcessSerializer(many=True, default=list, max_length=1024)
    error = serializers.CharField(max_length=500, allow_blank=True, default="")
    simulated = serializers.BooleanField(default=False)
    # Health signals: older agents send none.
    xids = serializers.ListField(child=serializers.IntegerField(min_value=0), default=list,
                                 max_length=256, help_text="XID critical errors since the "
                                                           "sample before.")
    ecc_corrected = serializers.IntegerField(min_value=0, allow_null=True, default=None)
    ecc_uncorrected = serializers.IntegerField(min_value=0, allow_null=True, default=None)
    throttle = serializers.ListField(
        child=serializers.ChoiceField(choices=THROTTLE_REASONS), default=list,
        max_length=len(THROTTLE_REASONS), help_text="Why the clocks are held back now.")
    retired_pages = serializers.IntegerField(min_value=0, allow_null=True, default=None)
    retirement_pending = serializers.BooleanField(allow_null=True, default=None)
    lost = serializers.BooleanField(default=False, help_text="NVML says the GPU is lost.")

    def validate(self, data: dict) -> dict:
        used, total = data["memory_used_gb"], data["memory_total_gb"]
        if used is not None and total is not None and used > total:
            raise serializers.ValidationError(
                {"memory_used_gb": f"{used:g} GB used of {total:g} GB: more than the GPU has"})
        return data


class HeartbeatSerializer(serializers.Serializer):
    # Agents older than telemetry send {}: still a heartbeat.
    gpus = GpuSampleReportSerializer(many=True, default=list, max_length=64,
                                     help_text="A telemetry sample per GPU the agent serves.")

    def validate_gpus(self, gpus: list[dict]) -> list[dict]:
        uuids = [gpu["uuid"] for gpu in gpus]
        repeated = sorted({uuid for uuid in uuids if uuids.count(uuid) > 1})
        if repeated:
            raise serializers.ValidationError(
                f"one sample per GPU; repeated: {', '.join(repeated)}")
        return gpus

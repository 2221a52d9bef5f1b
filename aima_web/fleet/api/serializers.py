from __future__ import annotations

from rest_framework import serializers

from aima_tasks.routing import Scope
from aima_web.fleet.models import LocalGPU, validate_cuda_version


class LocalGPUSerializer(serializers.ModelSerializer):
    agent = serializers.SerializerMethodField()

    class Meta:
        model = LocalGPU
        fields = ["id", "model", "uuid", "vram_gb", "cuda_version", "host", "location",
                  "availability_schedule", "access_restrictions", "status", "simulated",
                  "agent", "registered_at", "retired_at"]
        read_only_fields = fields

    def get_agent(self, gpu: LocalGPU) -> dict | None:
        agent = gpu.agent
        if agent is None:
            return None
        return {"id": agent.id, "name": agent.name, "online": agent.online,
                "last_heartbeat": agent.last_heartbeat}


class ReportedGpuSerializer(serializers.Serializer):
    uuid = serializers.CharField(max_length=80)
    model = serializers.CharField(max_length=100)
    vram_gb = serializers.FloatField(min_value=1)
    cuda_version = serializers.CharField(max_length=8, validators=[validate_cuda_version])
    simulated = serializers.BooleanField(default=False)


class RegisterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    scope = serializers.ChoiceField(choices=[s.value for s in Scope])
    version = serializers.CharField(max_length=40, required=False, default="")
    location = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    gpus = ReportedGpuSerializer(many=True, allow_empty=False)


class RegisteredSerializer(serializers.Serializer):
    agent_id = serializers.IntegerField()
    credential = serializers.CharField(help_text="Shown once; send as `Authorization: Agent …`.")
    queues = serializers.ListField(child=serializers.CharField())

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.routing import Scope
from aima_tasks.telemetry import GpuSample
from aima_web.fleet import services
from aima_web.fleet.api.serializers import (
    GpuTelemetrySerializer,
    HeartbeatSerializer,
    LocalGPUSerializer,
    RegisteredSerializer,
    RegisterSerializer,
)
from aima_web.fleet.auth import (
    AgentAuthentication,
    EnrollmentAuthentication,
    HasEnrollmentToken,
    IsAgent,
)
from aima_web.fleet.models import GpuTelemetry, LocalGPU


class LocalGPUViewSet(viewsets.ReadOnlyModelViewSet):
    """Local GPUs, registered in the admin or by their agents."""

    serializer_class = LocalGPUSerializer
    # Each GPU's newest sample, in one query for the whole page.
    queryset = LocalGPU.objects.select_related("agent").prefetch_related(
        Prefetch("telemetry", queryset=GpuTelemetry.objects.all()[:1], to_attr="latest_samples"))

    @extend_schema(responses=GpuTelemetrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def telemetry(self, request: Request, pk: str | None = None) -> Response:
        """The GPU's telemetry samples, newest first, as long as they are kept
        (AIMA_GPU_HISTORY_S); paginated."""
        gpu = self.get_object()
        page = self.paginate_queryset(gpu.telemetry.all())
        return self.get_paginated_response(GpuTelemetrySerializer(page, many=True).data)


class AgentRegisterView(APIView):
    """An agent exchanges an enrollment token for its own credential."""

    authentication_classes = [EnrollmentAuthentication]
    permission_classes = [HasEnrollmentToken]

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer})
    def post(self, request: Request) -> Response:
        form = RegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        gpus = [services.ReportedGpu(**gpu) for gpu in data["gpus"]]
        registration = services.register(
            request.auth, name=data["name"], scope=Scope(data["scope"]), version=data["version"],
            gpus=gpus, location=data["location"])
        body = {"agent_id": registration.agent.id, "credential": registration.credential,
                "queues": registration.agent.queues}
        return Response(RegisteredSerializer(body).data, status=status.HTTP_201_CREATED)


class AgentHeartbeatView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=HeartbeatSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        form = HeartbeatSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        samples = [GpuSample.from_report(gpu) for gpu in form.validated_data["gpus"]]
        services.heartbeat(request.auth, samples)
        return Response(status=status.HTTP_204_NO_CONTENT)

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.telemetry import GpuSample
from aima_web.access.roles import Capability, holds
from aima_web.audit import trail
from aima_web.fleet import services
from aima_web.fleet.api.serializers import (
    AnswerSerializer,
    GpuSettingsSerializer,
    GpuSummarySerializer,
    GpuTelemetrySerializer,
    HeartbeatSerializer,
    LocalGPUSerializer,
    RegisteredSerializer,
    RegisterSerializer,
)
from aima_web.fleet.auth import (
    AgentAuthentication,
    EnrollmentAuthentication,
    IsAgent,
    IsAgentOrEnrolling,
)
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.fleet.serving import serving_by_uuid
from aima_web.taskmonitor import relay


@extend_schema_view(
    list=extend_schema(responses=OpenApiResponse(GpuSummarySerializer(many=True), description=(
        "Operators also see each GPU's uuid, host, access_restrictions, performance_profile, "
        "compute_benchmark, agent and latest_sample."))),
    retrieve=extend_schema(responses=OpenApiResponse(GpuSummarySerializer, description=(
        "Operators also see the GPU's uuid, host, access_restrictions, performance_profile, "
        "compute_benchmark, agent and latest_sample."))))
class LocalGPUViewSet(viewsets.ReadOnlyModelViewSet):
    """Local GPUs, registered in the admin or by their agents."""

    capabilities = {"list": Capability.VIEW_GPUS, "retrieve": Capability.VIEW_GPUS,
                    "telemetry": Capability.VIEW_GPU_DETAILS,
                    "partial_update": Capability.OPERATE_GPUS, "drain": Capability.OPERATE_GPUS,
                    "resume": Capability.OPERATE_GPUS}
    # Each GPU's newest sample, in one query for the whole page.
    queryset = LocalGPU.objects.select_related("agent").prefetch_related(
        Prefetch("telemetry", queryset=GpuTelemetry.objects.all()[:1], to_attr="latest_samples"))

    def get_serializer_class(self) -> type[serializers.ModelSerializer]:
        if holds(self.request.user, Capability.VIEW_GPU_DETAILS):
            return LocalGPUSerializer
        return GpuSummarySerializer

    @extend_schema(responses=GpuTelemetrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def telemetry(self, request: Request, pk: str | None = None) -> Response:
        """The GPU's telemetry samples, newest first, as long as they are kept
        (AIMA_GPU_HISTORY_S); paginated."""
        gpu = self.get_object()
        page = self.paginate_queryset(gpu.telemetry.all())
        return self.get_paginated_response(GpuTelemetrySerializer(page, many=True).data)

    @extend_schema(request=GpuSettingsSerializer, responses=LocalGPUSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change when (availability schedule) or where (location) the GPU works
        (operators). Outside its availability window its agent stops taking work for
        it, after the task at hand, from its next heartbeat on."""
        gpu = self.get_object()
        # Validated first: a body that is no JSON object (a bare number, a list) is a 400.
        form = GpuSettingsSerializer(gpu, data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        allowed = GpuSettingsSerializer.Meta.fields
        unknown = sorted(set(request.data) - set(allowed))
        if unknown:
            raise ValidationError({name: f"cannot be changed here; only {', '.join(allowed)} "
                                         "can (status: POST drain/ or resume/)"
                                   for name in unknown})
        form.save()
        trail.record(trail.user_actor(request.user), "gpu.changed", f"gpu:{gpu.id}",
                     **form.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=gpu.pk)).data)

    @extend_schema(request=None, responses=LocalGPUSerializer)
    @action(detail=True, methods=["post"])
    def drain(self, request: Request, pk: str | None = None) -> Response:
        """Maintenance (operators): the GPU finishes the task at hand and takes no
        more, from its agent's next heartbeat on; placement passes it over."""
        return self._set_status(request, GpuStatus.MAINTENANCE)

    @extend_schema(request=None, responses=LocalGPUSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Back in service (operators) after maintenance."""
        return self._set_status(request, GpuStatus.AVAILABLE)

    def _set_status(self, request: Request, to: GpuStatus) -> Response:
        gpu = self.get_object()
        problem = services.set_status(gpu, to, actor=trail.user_actor(request.user))
        if problem:
            return Response({"detail": problem}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(self.get_queryset().get(pk=gpu.pk)).data)


class AgentRegisterView(APIView):
    """An agent exchanges an enrollment token for its own credential, or, starting
    again, its credential for a new one. Its scope is the token's."""

    # The agent's credential first: a restarting agent sends it, not a token.
    authentication_classes = [AgentAuthentication, EnrollmentAuthentication]
    permission_classes = [IsAgentOrEnrolling]

    @extend_schema(request=RegisterSerializer, responses={
        201: RegisteredSerializer,
        403: OpenApiResponse(description="A scope the token does not give, or a GPU that "
                                         "belongs to another agent.")})
    def post(self, request: Request) -> Response:
        form = RegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        gpus = [services.ReportedGpu(**gpu) for gpu in data["gpus"]]
        auth = request.auth
        scope = auth.scope
        actor = (trail.agent_actor(auth.pk) if isinstance(auth, Agent)
                 else f"enrollment:{auth.pk}")
        try:
            if data["scope"] and data["scope"] != scope:
                raise services.RegistrationRefused(
                    f"this {'agent' if isinstance(auth, Agent) else 'enrollment token'} is "
                    f"{scope}; an agent cannot make itself {data['scope']}")
            register = services.reregister if isinstance(auth, Agent) else services.enrol
            registration = register(auth, name=data["name"], version=data["version"],
                                    gpus=gpus, location=data["location"])
        except services.RegistrationRefused as exc:
            trail.record(actor, "agent.registration_refused", actor, reason=str(exc),
                         name=data["name"], claimed_scope=data["scope"] or None,
                         gpus=[g.uuid for g in gpus])
            raise PermissionDenied(str(exc)) from None
        agent = registration.agent
        body = {"agent_id": agent.id, "credential": registration.credential,
                "scope": agent.scope, "queues": agent.queues,
                "gpus": serving_by_uuid(agent.gpus.all())}
        return Response(RegisteredSerializer(body).data, status=status.HTTP_201_CREATED)


class AgentHeartbeatView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=HeartbeatSerializer, responses=AnswerSerializer)
    def post(self, request: Request) -> Response:
        """Report in, with telemetry; the answer says which GPUs take work now."""
        form = HeartbeatSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        samples = [GpuSample.from_report(gpu) for gpu in form.validated_data["gpus"]]
        services.heartbeat(request.auth, samples)
        relay.heartbeat(request.auth)  # Flower hears the agent through the control plane
        # Read after the samples: one that failed the GPU stops its work at once.
        answer = {"gpus": serving_by_uuid(request.auth.gpus.all())}
        return Response(AnswerSerializer(answer).data)

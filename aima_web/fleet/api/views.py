from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.routing import Scope
from aima_web.fleet import services
from aima_web.fleet.api.serializers import (
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
from aima_web.fleet.models import LocalGPU


class LocalGPUViewSet(viewsets.ReadOnlyModelViewSet):
    """Local GPUs, registered in the admin or by their agents."""

    serializer_class = LocalGPUSerializer
    queryset = LocalGPU.objects.select_related("agent")


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

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.heartbeat(request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""The endpoint a spot host's agent calls on its provider's preemption notice."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.kernel.routing import Scope
from aima_web.fleet.auth import AgentAuthentication, IsAgent
from aima_web.instances import preemption


class NoticeSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=40, default="terminate")
    time = serializers.CharField(max_length=40, allow_blank=True, default="")


class PreemptedSerializer(serializers.Serializer):
    notice = NoticeSerializer(help_text="The provider's notice, as the agent read it.")


class HandedBackSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    segment = serializers.IntegerField()
    analyses = serializers.ListField(child=serializers.CharField())
    seconds_lost = serializers.FloatField(help_text="How long the unit had run on this host.")


class ReleasedSerializer(serializers.Serializer):
    handed_back = HandedBackSerializer(many=True)


class AgentPreemptedView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=PreemptedSerializer, responses=ReleasedSerializer)
    def post(self, request: Request) -> Response:
        """This host is being preempted: its unfinished units pass to other hosts
        at once (each on the trail as rework) and its instance ends."""
        if request.auth.scope != Scope.CLOUD:
            # Spot notices come from a rented host; an agent on local hardware has none.
            raise PermissionDenied("only a cloud agent's host can be preempted")
        form = PreemptedSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        released = preemption.preempted(request.auth, form.validated_data["notice"])
        return Response(ReleasedSerializer({"handed_back": released}).data)

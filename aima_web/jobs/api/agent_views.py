"""The agents' side of a job: take it, and fetch its media."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.classification import Confidentiality
from aima_tasks.routing import Scope
from aima_web.fleet.auth import AgentAuthentication, IsAgent
from aima_web.fleet.models import Agent
from aima_web.jobs import services
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState


def job_for_agent(agent: Agent, job_id: str) -> Job:
    job = get_object_or_404(Job.objects.select_related("media"), pk=job_id)
    # The last of three guards (placement, broker permissions, this): confidential
    # media is never handed to a cloud host.
    if job.confidentiality == Confidentiality.CONFIDENTIAL and agent.scope != Scope.LOCAL:
        raise PermissionDenied("confidential media is served to local agents only")
    return job


class StartSerializer(serializers.Serializer):
    gpu_uuid = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)
    segment = serializers.IntegerField(min_value=0, required=False, default=0)
    analyses = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                     default=list)


class StartedSerializer(serializers.Serializer):
    wanted = serializers.ListField(
        child=serializers.CharField(),
        help_text="The analyses of the segment still to run; the others are stored already.")


class AgentJobStartView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=StartSerializer, responses={
        200: StartedSerializer, 409: OpenApiResponse(description="The job is no longer wanted.")})
    def post(self, request: Request, job_id: str) -> Response:
        """Take (a segment of) the job; the answer lists what of it is still to do."""
        job = job_for_agent(request.auth, job_id)
        form = StartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if not services.start_running(job, request.auth, form.validated_data["gpu_uuid"]):
            job.refresh_from_db()
            return Response({"detail": f"the job is {job.state}", "state": job.state},
                            status=status.HTTP_409_CONFLICT)
        wanted = services.wanted_parts(job, form.validated_data["segment"],
                                       form.validated_data["analyses"])
        return Response({"wanted": wanted})


class AgentJobMediaView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, job_id: str) -> FileResponse | Response:
        job = job_for_agent(request.auth, job_id)
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            return Response({"detail": f"the job is {job.state}", "state": job.state},
                            status=status.HTTP_409_CONFLICT)
        response = FileResponse(job.media.path.open("rb"), content_type="application/octet-stream")
        response["X-Content-SHA256"] = job.media.sha256
        return response

"""The agents' side of a job: take a unit of it, fetch its media, report what
came of it. Each is checked against what the control plane assigned: the
agent's scope and queues, the unit's ticket, who holds the unit now."""

from __future__ import annotations

from typing import NoReturn

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus, ResultItem
from aima_web.audit import trail
from aima_web.fleet import assignments
from aima_web.fleet.auth import AgentAuthentication, IsAgent
from aima_web.fleet.models import Agent
from aima_web.jobs import services, storage
from aima_web.jobs.models import Job
from aima_web.jobs.states import WORKING
from aima_web.taskmonitor import relay


def job_for_agent(agent: Agent, job_id: str, action: str) -> Job:
    """The job, if the agent may serve it at all; a refusal is audited."""
    job = get_object_or_404(Job.objects.select_related("media"), pk=job_id)
    try:
        # The last of three guards (placement, broker permissions, this):
        # confidential media is never handed to a cloud host.
        assignments.check_eligible(job, agent)
    except assignments.NotAssigned as exc:
        refuse(agent, action, job_id, str(exc))
    return job


def refuse(agent: Agent, action: str, job_id: str, reason: str) -> NoReturn:
    """Leave the refused attempt in the audit trail, and answer 403."""
    trail.record(trail.agent_actor(agent.pk), action, f"job:{job_id}", reason=reason)
    raise PermissionDenied(reason)


def conflict(job: Job) -> Response:
    job.refresh_from_db(fields=["state"])
    return Response({"detail": f"the job is {job.state}", "state": job.state},
                    status=status.HTTP_409_CONFLICT)


def known_analysis(name: str) -> None:
    if name not in catalogue().specs:
        raise serializers.ValidationError(f"unknown analysis {name!r}")


def known_status(value: str) -> None:
    if value not in {s.value for s in OutcomeStatus}:
        raise serializers.ValidationError(
            f"{value!r} is not one of {', '.join(s.value for s in OutcomeStatus)}")


# Analysis names and outcome statuses are checked by validators, not as choices: the
# schema's enums of those names belong to the user-facing serializers.
class AnalysesField(serializers.ListField):
    child = serializers.CharField(max_length=64, validators=[known_analysis])

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_empty=False, max_length=len(catalogue().specs), **kwargs)


class UnitSerializer(serializers.Serializer):
    """Which unit of the job: as the message that carried it named it."""

    segment = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    analyses = AnalysesField(help_text="The unit's analyses, as its message listed them.")
    ticket = serializers.CharField(max_length=128, help_text="The unit's ticket, from its "
                                                              "message.")


class StartSerializer(UnitSerializer):
    gpu_uuid = serializers.CharField(max_length=80, required=False, default="", allow_blank=True,
                                     help_text="The agent's own GPU the unit runs on.")


class StartedSerializer(serializers.Serializer):
    wanted = serializers.ListField(
        child=serializers.CharField(),
        help_text="The analyses of the segment still to run; the others are stored already.")


class ResultItemSerializer(serializers.Serializer):
    analysis = serializers.CharField(max_length=64, validators=[known_analysis])
    data = serializers.DictField()
    meta = serializers.DictField(required=False, default=dict)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()


class OutcomeSerializer(UnitSerializer):
    ticket = serializers.CharField(max_length=128, required=False, default="",
                                   help_text="The unit's ticket: what a refusal must carry (the "
                                             "results are taken from the unit's holder).")
    status = serializers.CharField(default=OutcomeStatus.DONE.value, validators=[known_status],
                                   help_text="done (results and errors) or refused (the agent "
                                             "must not run the unit).")
    gpu_uuid = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)
    results = ResultItemSerializer(many=True, default=list, max_length=len(catalogue().specs))
    errors = serializers.ListField(child=serializers.CharField(max_length=4000), default=list,
                                   max_length=len(catalogue().specs) + 1)

    def outcome(self, job_id: str) -> AnalysisOutcome:
        data = self.validated_data
        return AnalysisOutcome(
            job_id=job_id, status=OutcomeStatus(data["status"]), analyses=tuple(data["analyses"]),
            gpu_uuid=data["gpu_uuid"], segment=data["segment"], errors=tuple(data["errors"]),
            results=tuple(ResultItem(analysis=r["analysis"], data=r["data"], meta=r["meta"],
                                     started_at=r["started_at"].isoformat(),
                                     finished_at=r["finished_at"].isoformat())
                          for r in data["results"]))


class ReportedSerializer(serializers.Serializer):
    state = serializers.CharField(allow_null=True,
                                  help_text="The job's new state; null while parts are missing.")


class AgentJobStartView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=StartSerializer, responses={
        200: StartedSerializer, 403: OpenApiResponse(description="Not this agent's work."),
        409: OpenApiResponse(description="The job is no longer wanted.")})
    def post(self, request: Request, job_id: str) -> Response:
        """Take a unit of the job; the answer lists what of it is still to do."""
        job = job_for_agent(request.auth, job_id, "job.start_refused")
        form = StartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        unit = assignments.Unit(str(job.id), data["segment"], tuple(data["analyses"]))
        try:
            started = services.start_running(job, request.auth, unit, data["ticket"],
                                             data["gpu_uuid"])
        except assignments.NotAssigned as exc:
            refuse(request.auth, "job.start_refused", job_id, str(exc))
        if not started:
            return conflict(job)
        relay.unit_started(request.auth, str(job.id), data["gpu_uuid"], unit.segment, unit.analyses)
        return Response({"wanted": services.wanted_parts(job, unit.segment, list(unit.analyses))})


class AgentJobMediaView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(responses={(200, "application/octet-stream"): bytes,
                              403: OpenApiResponse(description="Not this agent's work."),
                              409: OpenApiResponse(description="The job is no longer wanted.")})
    def get(self, request: Request, job_id: str) -> FileResponse | Response:
        """The job's media, for an agent that holds a unit of it."""
        job = job_for_agent(request.auth, job_id, "job.media_refused")
        if not assignments.holds_any(job, request.auth):
            refuse(request.auth, "job.media_refused", job_id,
                   "no unit of this job is assigned to this agent")
        if job.state not in WORKING:
            return conflict(job)
        trail.record(trail.agent_actor(request.auth.pk), "job.media_fetched", job.subject,
                     sha256=job.media.sha256)
        response = FileResponse(storage.open_media(job.media.sha256),
                                content_type="application/octet-stream")
        response["X-Content-SHA256"] = job.media.sha256
        return response


class AgentJobResultsView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(request=OutcomeSerializer, responses={
        200: ReportedSerializer, 403: OpenApiResponse(description="Not this agent's work.")})
    def post(self, request: Request, job_id: str) -> Response:
        """Report a unit's results (or errors, or a refusal). Accepted only from the
        agent that holds the unit; a part stored before is kept, never overwritten."""
        job = get_object_or_404(Job, pk=job_id)
        form = OutcomeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        outcome = form.outcome(str(job.id))
        try:
            state = services.report(request.auth, outcome, form.validated_data["ticket"])
        except assignments.NotAssigned as exc:
            refuse(request.auth, "job.result_refused", job_id, str(exc))
        relay.unit_reported(request.auth, outcome)
        return Response({"state": state.value if state else None})

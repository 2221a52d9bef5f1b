from __future__ import annotations

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from aima_web.access import redaction
from aima_web.access.roles import Capability, holds
from aima_web.access.visibility import visible_jobs
from aima_web.audit import trail
from aima_web.core.parsers import DepthLimitedJSONParser
from aima_web.jobs import services, storage
from aima_web.jobs.api.serializers import (
    AnalysisResultSerializer,
    JobCreateSerializer,
    JobSerializer,
)
from aima_web.jobs.models import Job
from aima_web.jobs.report import ReportHTMLRenderer, build_report
from aima_web.jobs.states import JobState
from aima_web.uploads import resumable


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Analysis jobs: submit media, follow a job, read its results, cancel it."""

    serializer_class = JobSerializer
    queryset = Job.objects.all()  # narrowed per user in get_queryset
    parser_classes = [MultiPartParser, FormParser, DepthLimitedJSONParser]
    capabilities = {"list": Capability.VIEW_JOBS, "retrieve": Capability.VIEW_JOBS,
                    "results": Capability.VIEW_JOBS, "report": Capability.VIEW_JOBS,
                    "media": Capability.VIEW_JOBS,
                    "create": Capability.SUBMIT_JOBS, "cancel": Capability.CANCEL_OWN_JOBS}

    def get_queryset(self) -> QuerySet[Job]:
        # A job the user may not see is simply not there (404), not forbidden (403).
        jobs = visible_jobs(self.request.user,
                            Job.objects.select_related("owner", "media", "gpu", "agent"))
        wanted = self.request.query_params.get("state")
        if wanted and self.action == "list":
            if wanted not in JobState.values:
                raise ValidationError(
                    {"state": f"unknown state {wanted!r}; use one of {', '.join(JobState.values)}"})
            jobs = jobs.filter(state=wanted)
        return jobs

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=JobState.values)])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": JobCreateSerializer,
                            "application/json": JobCreateSerializer},
                   responses={201: JobSerializer})
    def create(self, request: Request) -> Response:
        form = JobCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        # The file comes in this request (media) or from a finished resumable upload.
        source = resumable.source(request.user, form.validated_data.get("upload"))
        media = form.validated_data.get("media")
        submission = services.Submission(
            confidentiality=form.validated_data["confidentiality"],
            urgency=form.validated_data["urgency"],
            analyses=tuple(form.validated_data["analyses"]),
            media_name=(media.name if media else source.filename) or "",
            region=form.validated_data["region"],
            priority=form.validated_data["priority"],
            deadline=form.validated_data["deadline"])
        try:
            job = services.submit(request.user, media.chunks() if media else source.chunks(),
                                  submission)
        except services.SubmissionError as exc:
            field = exc.field if media or exc.field != "media" else "upload"
            raise ValidationError({field: [str(exc)]}) from None
        if source:
            source.taken()
        return Response(JobSerializer(job, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=AnalysisResultSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # all of them, unpaged
    def results(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        trail.record_read(request.user, "job.results_read", job.subject)
        rows = AnalysisResultSerializer(job.results.all(), many=True).data
        return Response([redaction.run_record(row, request.user) for row in rows])

    @extend_schema(
        parameters=[OpenApiParameter(
            "format", str, enum=["json", "html"],
            description="html: a readable page (as does Accept: text/html); default json.")],
        responses={200: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Sections job, media, timeline, transcript, dialogue, speakers, "
                        "sound_events, people (a timeline per person: track, face "
                        "clusters, text on screen), faces, screen_text, keyframes (times "
                        "and boxes; the HTML page draws them on thumbnails), speech_map, "
                        "analyses, summary and results.")})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ReportHTMLRenderer])
    def report(self, request: Request, pk: str | None = None) -> Response:
        """The job's analysis report, as JSON or as an HTML page.

        An unfinished job is not refused: it reports the analyses done so far, with
        its state, ``finished`` false and the analyses still pending, so a long or
        segmented job can be followed while it runs.
        """
        job = self.get_object()
        trail.record_read(request.user, "job.report_read", job.subject,
                          format=request.accepted_renderer.format)
        report = build_report(job)
        report["analyses"] = [redaction.run_record(a, request.user) for a in report["analyses"]]
        return Response(report)

    @extend_schema(responses={(200, "application/octet-stream"): bytes,
                              410: OpenApiResponse(description="The media was deleted.")})
    @action(detail=True, methods=["get"])
    def media(self, request: Request, pk: str | None = None) -> FileResponse | Response:
        """The job's media as it was uploaded (decrypted), to whoever may see the
        job; its SHA-256 in ``X-Content-SHA256``. Every download is in the audit trail."""
        job = self.get_object()
        try:
            reader = storage.open_media(job.media.sha256)
        except FileNotFoundError:
            return Response({"detail": "the media was deleted (retention or an operator)"},
                            status=status.HTTP_410_GONE)
        trail.record_read(request.user, "job.media_read", job.subject)
        name = job.media_name or f"{job.id}.bin"
        answer = FileResponse(reader, as_attachment=True, filename=name,
                              content_type="application/octet-stream")
        answer["X-Content-SHA256"] = job.media.sha256
        return answer

    @extend_schema(request=None, responses={200: JobSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        if job.owner_id != request.user.pk and not holds(request.user, Capability.CANCEL_ANY_JOB):
            raise PermissionDenied("you may cancel your own jobs only")
        if not services.cancel(job, trail.user_actor(request.user)):
            job.refresh_from_db()
            return Response({"detail": f"the job is already {job.state} and cannot be cancelled"},
                            status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)

"""Agents fetch model artifacts by their SHA-256."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from aima_web.fleet.auth import AgentAuthentication, IsAgent
from aima_web.registry import biometric
from aima_web.registry.models import ModelArtifact


class AgentModelView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(responses={(200, "application/octet-stream"): bytes,
                              404: OpenApiResponse(description="No such artifact, or an "
                                                               "enrolment erased when retired.")})
    def get(self, request: Request, sha256: str) -> FileResponse:
        """The artifact's bytes (an enrolment's decrypted: they are sealed at rest);
        ``X-Content-SHA256`` says what they must hash to."""
        artifact = get_object_or_404(ModelArtifact, sha256=sha256)
        if artifact.erased_at is not None:
            raise NotFound(f"{artifact} was erased when it was retired")
        try:
            source = biometric.open_file(artifact)
        except FileNotFoundError:
            raise NotFound(f"the file of {artifact} is missing from AIMA_MODEL_ROOT") from None
        biometric.record_fetch(artifact, request.auth.pk)
        response = FileResponse(source, as_attachment=True, filename=artifact.filename,
                                content_type="application/octet-stream")
        response["X-Content-SHA256"] = artifact.sha256
        return response

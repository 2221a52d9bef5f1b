"""Agents fetch model artifacts by their SHA-256."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from aima_web.fleet.auth import AgentAuthentication, IsAgent
from aima_web.registry.models import ModelArtifact


class AgentModelView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(responses={(200, "application/octet-stream"): bytes,
                              404: OpenApiResponse(description="No such artifact.")})
    def get(self, request: Request, sha256: str) -> FileResponse:
        """The artifact's bytes; ``X-Content-SHA256`` says what they must hash to."""
        artifact = get_object_or_404(ModelArtifact, sha256=sha256)
        if not artifact.path.exists():
            raise NotFound(f"the file of {artifact} is missing from AIMA_MODEL_ROOT")
        response = FileResponse(artifact.path.open("rb"), as_attachment=True,
                                filename=artifact.filename,
                                content_type="application/octet-stream")
        response["X-Content-SHA256"] = artifact.sha256
        return response

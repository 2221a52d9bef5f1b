"""GET /api/v1/alerts/: the open alerts and the latest resolved ones (operators)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_web.access.roles import Capability
from aima_web.alerts.evaluate import recent_alerts
from aima_web.alerts.models import Alert

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class AlertSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "kind", "subject", "severity", "message", "state", "raised_at",
                  "resolved_at", "notified_at", "resolved_notified_at"]
        read_only_fields = fields


class AlertsView(APIView):
    capabilities = {"get": Capability.VIEW_GPU_DETAILS}

    @extend_schema(parameters=[OpenApiParameter("limit", int, description=(
        f"How many alerts, open ones first (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"))],
        responses={200: AlertSerializer(many=True)})
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValidationError({"limit": f"a whole number from 1 to {MAX_LIMIT}"})
        return Response(AlertSerializer(recent_alerts(int(raw)), many=True).data)

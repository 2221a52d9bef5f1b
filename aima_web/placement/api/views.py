from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_web.access.roles import Capability
from aima_web.access.visibility import team_names
from aima_web.core.parsers import DepthLimitedJSONParser
from aima_web.placement import prices, services
from aima_web.placement.api.schema import DecisionSerializer
from aima_web.placement.api.serializers import (
    ExplainSerializer,
    OfferPriceSerializer,
    PolicySerializer,
    PriceQuerySerializer,
)
from aima_web.placement.models import OfferPrice, PlacementPolicy


class ExplainView(APIView):
    """Where a job like this would run now, and why; nothing is stored or queued."""

    parser_classes = [DepthLimitedJSONParser]
    capabilities = {"post": Capability.EXPLAIN_PLACEMENT}

    @extend_schema(request=ExplainSerializer, responses={200: DecisionSerializer}, examples=[
        OpenApiExample("An hour of video", request_only=True, value={
            "media_type": "video", "size_bytes": 2_000_000_000, "duration_s": 3600,
            "confidentiality": "internal", "urgency": "normal"})])
    def post(self, request: Request) -> Response:
        form = ExplainSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        decision = services.decide_for(form.spec(groups=team_names(request.user)))
        return Response(decision.to_dict())


class PolicyView(APIView):
    """The placement policy in force (edited in the admin)."""

    capabilities = {"get": Capability.VIEW_POLICY}

    @extend_schema(responses={200: PolicySerializer})
    def get(self, request: Request) -> Response:
        return Response(PolicySerializer(PlacementPolicy.current()).data)


class PriceHistoryView(ListAPIView):
    """Cloud prices as recorded at each refresh, newest first (operators): one
    offer's by ``key``, or a provider's or GPU model's over time."""

    serializer_class = OfferPriceSerializer
    capabilities = {"get": Capability.VIEW_CLOUD}

    def get_queryset(self) -> QuerySet[OfferPrice]:
        query = PriceQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return prices.history(**query.validated_data)

    @extend_schema(parameters=[PriceQuerySerializer])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

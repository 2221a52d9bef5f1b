from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aima_web.access.roles import Capability
from aima_web.instances.api.serializers import (
    InstanceSerializer,
    OfferQuerySerializer,
    OffersSerializer,
    ProviderSerializer,
)
from aima_web.instances.models import CloudInstance
from aima_web.instances.registry import providers
from providers.base import ProviderError, Requirements


class InstanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Cloud instances AIMA rented, with their state and cost (operators)."""

    queryset = CloudInstance.objects.all()
    serializer_class = InstanceSerializer
    capabilities = {"list": Capability.VIEW_CLOUD, "retrieve": Capability.VIEW_CLOUD}


class ProvidersView(APIView):
    """Enabled providers with their health; broken ones say why (operators)."""

    capabilities = {"get": Capability.VIEW_CLOUD}

    @extend_schema(responses={200: ProviderSerializer(many=True)})
    def get(self, request: Request) -> Response:
        registry = providers()
        rows = []
        for name, provider in registry.providers.items():
            try:
                health = provider.health()
                ok, message = health.ok, health.message
            except ProviderError as exc:
                ok, message = False, f"{type(exc).__name__}: {exc}"
            rows.append({"name": name, "enabled": True, "ok": ok, "message": message,
                         "settings": registry.settings.get(name, {})})
        for name, problem in registry.broken.items():
            rows.append({"name": name, "enabled": True, "ok": False, "message": problem,
                         "settings": registry.settings.get(name, {})})
        return Response(ProviderSerializer(rows, many=True).data)


class OffersView(APIView):
    """Live offers across the enabled providers, cheapest first (operators)."""

    capabilities = {"get": Capability.VIEW_CLOUD}

    @extend_schema(parameters=[OfferQuerySerializer], responses={200: OffersSerializer})
    def get(self, request: Request) -> Response:
        query = OfferQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = Requirements(min_vram_gb=query.validated_data["min_vram"],
                              spot=query.validated_data["spot"],
                              max_price_per_hour=query.validated_data["max_price"])
        only = query.validated_data["provider"]
        offers, errors = [], {}
        for name, provider in providers().providers.items():
            if only and name != only:
                continue
            try:
                offers.extend(provider.offers(wanted))
            except ProviderError as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
        offers.sort(key=lambda o: (o.spot_price_per_hour if wanted.spot else o.price_per_hour,
                                   o.key))
        rows = [{**asdict(o), "key": o.key} for o in offers]
        return Response(OffersSerializer({"offers": rows, "errors": errors}).data)

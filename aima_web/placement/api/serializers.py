from __future__ import annotations

from typing import Any

from rest_framework import serializers

from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_tasks.kernel.placement import JobSpec
from aima_web.core.choices import choices
from aima_web.jobs.api.serializers import AnalysesField
from aima_web.jobs.models import validate_region
from aima_web.placement.models import OfferPrice, PlacementPolicy


class ExplainSerializer(serializers.Serializer):
    """A job as placement sees it, without media: what would happen to it now."""

    media_type = serializers.ChoiceField(choices=choices(MediaType))
    size_bytes = serializers.IntegerField(min_value=1, help_text="The media's size in bytes.")
    duration_s = serializers.FloatField(
        min_value=0, required=False, allow_null=True, default=None,
        help_text="Length of video or audio in seconds; runtime estimates scale with it.")
    analyses = AnalysesField(
        required=False, default=list,
        help_text=f"Any of {', '.join(catalogue().specs)}; "
                  "empty: all that apply to the media type.")
    confidentiality = serializers.ChoiceField(choices=choices(Confidentiality),
                                              default=Confidentiality.INTERNAL.value)
    urgency = serializers.ChoiceField(choices=choices(Urgency), default=Urgency.NORMAL.value)
    priority = serializers.IntegerField(required=False, default=0, min_value=-1000,
                                        max_value=1000)
    region = serializers.CharField(max_length=32, required=False, default="", allow_blank=True,
                                   validators=[validate_region])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        media_type = MediaType(attrs["media_type"])
        # A file that is not there cannot be probed: assume it has sound.
        possible = catalogue().applicable(media_type, has_audio=True)
        impossible = [name for name in attrs["analyses"] if name not in possible]
        if impossible:
            raise serializers.ValidationError(
                {"analyses": f"{', '.join(impossible)} cannot run on {media_type} media"})
        attrs["analyses"] = attrs["analyses"] or possible
        return attrs

    def spec(self, groups: frozenset[str]) -> JobSpec:
        data = self.validated_data
        needs = catalogue().needs(data["analyses"])
        return JobSpec(media_type=MediaType(data["media_type"]), size_bytes=data["size_bytes"],
                       analyses=tuple(data["analyses"]),
                       confidentiality=Confidentiality(data["confidentiality"]),
                       urgency=Urgency(data["urgency"]), priority=data["priority"],
                       duration_s=data["duration_s"], region=data["region"] or None,
                       groups=groups, analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda)


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = PlacementPolicy
        exclude = ["id"]
        read_only_fields = [f.name for f in PlacementPolicy._meta.fields if f.name != "id"]


class PriceQuerySerializer(serializers.Serializer):
    """Which recorded prices: every filter given narrows them."""

    key = serializers.CharField(required=False, default="", allow_blank=True, max_length=255,
                                help_text="One offer's key, as /api/v1/offers/ gives it.")
    provider = serializers.CharField(required=False, default="", allow_blank=True, max_length=60)
    gpu_model = serializers.CharField(required=False, default="", allow_blank=True,
                                      max_length=100)
    since = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                      help_text="Only prices priced at or after this time.")


class OfferPriceSerializer(serializers.ModelSerializer):
    class Meta:
        model = OfferPrice
        fields = ["key", "provider", "gpu_model", "region", "price_per_hour",
                  "spot_price_per_hour", "priced_at"]

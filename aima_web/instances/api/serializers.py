from __future__ import annotations

from rest_framework import serializers

from aima_web.instances.models import CloudInstance


class InstanceSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    billed_s = serializers.SerializerMethodField(
        help_text="Seconds from launch to its end (or now), paused time included.")
    paused_s = serializers.SerializerMethodField(
        help_text="Of the billed seconds, those it was paused (billed at the paused price).")

    class Meta:
        model = CloudInstance
        fields = ["id", "name", "provider", "offer_id", "instance_type", "gpu_model", "gpu_class",
                  "region", "spot", "price_per_hour", "paused_price_per_hour",
                  "provider_instance_id", "state", "agent", "attempts", "error", "requested_at",
                  "launched_at", "ready_at", "idle_since", "resumed_at", "terminated_at",
                  "billed_s", "paused_s", "pauses", "idle_decision", "cost"]
        read_only_fields = fields

    def get_billed_s(self, instance: CloudInstance) -> float:
        return round(instance.billed_seconds(), 1)

    def get_paused_s(self, instance: CloudInstance) -> float:
        return round(instance.paused_seconds(), 1)


class ProviderSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    ok = serializers.BooleanField()
    message = serializers.CharField()
    settings = serializers.DictField(child=serializers.CharField(),
                                     help_text="Its settings; secrets are masked.")


class OfferQuerySerializer(serializers.Serializer):
    min_vram = serializers.FloatField(required=False, min_value=0, default=0.0)
    spot = serializers.BooleanField(required=False, allow_null=True, default=None)
    max_price = serializers.FloatField(required=False, min_value=0, allow_null=True,
                                       default=None)
    provider = serializers.CharField(required=False, default="")


class OfferSerializer(serializers.Serializer):
    key = serializers.CharField()
    provider = serializers.CharField()
    instance_type = serializers.CharField()
    gpu_model = serializers.CharField()
    gpu_count = serializers.IntegerField()
    vram_gb = serializers.FloatField()
    cuda_version = serializers.CharField()
    region = serializers.CharField()
    price_per_hour = serializers.FloatField()
    spot_price_per_hour = serializers.FloatField(allow_null=True)
    reliability = serializers.FloatField()
    bandwidth_mbps = serializers.FloatField()
    boot_s = serializers.FloatField()
    interruption_per_hour = serializers.FloatField(allow_null=True)
    offer_id = serializers.CharField()
    priced_at = serializers.DateTimeField()


class OffersSerializer(serializers.Serializer):
    offers = OfferSerializer(many=True)
    errors = serializers.DictField(child=serializers.CharField(),
                                   help_text="Providers that could not be asked, and why.")

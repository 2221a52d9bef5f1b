"""The decision record's shape, for the OpenAPI schema only: the record itself
is the engine's ``Decision.to_dict()``, passed through unchanged."""

from __future__ import annotations

from rest_framework import serializers


class OptionSerializer(serializers.Serializer):
    scope = serializers.CharField()
    provider = serializers.CharField()
    gpu_model = serializers.CharField()
    spot = serializers.BooleanField()
    price_per_hour = serializers.FloatField()
    wait_s = serializers.FloatField(help_text="Seconds until it starts: queue and schedule "
                                              "locally, boot and upload in the cloud.")
    runtime_s = serializers.FloatField()
    duration_s = serializers.FloatField(help_text="wait_s + runtime_s")
    cost = serializers.FloatField(help_text="Expected cost, spot interruption risk included.")
    runtime_source = serializers.CharField(
        help_text="benchmark, observed, table or unknown_model: where runtime_s comes from.")
    gpu_id = serializers.IntegerField(allow_null=True)
    host = serializers.CharField()
    offer_id = serializers.CharField()
    instance_type = serializers.CharField()
    region = serializers.CharField()
    vram_gb = serializers.FloatField()
    upload_s = serializers.FloatField()
    interruption_risk = serializers.FloatField()
    label = serializers.CharField()


class AlternativeSerializer(OptionSerializer):
    lost = serializers.CharField(help_text="Reason code: why it lost.")
    why = serializers.CharField()


class SkippedSerializer(serializers.Serializer):
    analysis = serializers.CharField()
    why = serializers.CharField(help_text="What it needs that no GPU the job may use has.")


class PriceOutageSerializer(serializers.Serializer):
    provider = serializers.CharField()
    priced_at = serializers.CharField(help_text="ISO 8601: when the prices used were priced.")
    failing_since = serializers.CharField(help_text="ISO 8601: when its refreshes began to "
                                                    "fail.")
    error = serializers.CharField(help_text="The last failed refresh's error.")


class DeferralSerializer(serializers.Serializer):
    defer = serializers.BooleanField(help_text="Whether the job is held for a later start.")
    code = serializers.CharField(help_text="The rule's reason code.")
    reason = serializers.CharField(help_text="The verdict in one sentence.")
    deadline = serializers.CharField(allow_null=True,
                                     help_text="ISO 8601: the job's or the policy's deadline.")
    until = serializers.CharField(allow_null=True, help_text="ISO 8601: held until then.")
    where = serializers.CharField(help_text="Where the later start runs.")
    saving = serializers.FloatField(help_text="What the later start saves on running now.")


class DecisionSerializer(serializers.Serializer):
    placed = serializers.BooleanField()
    code = serializers.CharField(help_text="The reason code of the rule that decided.")
    reason = serializers.CharField(help_text="The decision in one sentence.")
    strategy = serializers.CharField()
    vram_need_gb = serializers.FloatField()
    min_cuda = serializers.CharField()
    gpu_class = serializers.IntegerField(allow_null=True)
    scope = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    choice = OptionSerializer(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    alternatives = AlternativeSerializer(many=True)
    excluded = serializers.DictField(child=serializers.IntegerField(),
                                     help_text="How many options each rule excluded.")
    suggestions = serializers.ListField(child=serializers.CharField(),
                                        help_text="When nothing fits: what a person could do.")
    skipped = SkippedSerializer(
        many=True, help_text="A partial job (reason code partial): the analyses it runs "
                             "without, as no GPU it may use can hold them.")
    last_good_prices = PriceOutageSerializer(
        many=True, help_text="Providers of the choice or an alternative whose last price "
                             "refresh failed (reason code last_good_prices): those options "
                             "are priced from the provider's last good prices.")
    deferral = DeferralSerializer(
        required=False, help_text="The off-peak rule's verdict where it was asked (reason "
                                  "code deferred_off_peak when the job is held).")

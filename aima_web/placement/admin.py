from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from aima_tasks.kernel.classification import Urgency
from aima_web.access.admin import RoleAdmin
from aima_web.audit import trail
from aima_web.core.choices import choices
from aima_web.placement import services
from aima_web.placement.models import CloudOffer, PlacementPolicy


class NameListField(forms.CharField):
    """A list of names, written as comma-separated text."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


class PlacementPolicyForm(forms.ModelForm):
    provider_order = NameListField(
        required=False, help_text=PlacementPolicy._meta.get_field("provider_order").help_text
        .replace('["local", "vastai", "runpod"]', "local, vastai, runpod"))
    enabled_providers = NameListField(
        required=False, help_text="Cloud providers placement may use, e.g. vastai, runpod; "
                                  "empty: every provider with offers; local alone: no cloud.")
    spot_urgencies = forms.MultipleChoiceField(
        choices=choices(Urgency), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=PlacementPolicy._meta.get_field("spot_urgencies").help_text)

    class Meta:
        model = PlacementPolicy
        exclude: list[str] = []


@admin.register(PlacementPolicy)
class PlacementPolicyAdmin(RoleAdmin):
    """The one placement policy; every save is written to the audit trail."""

    form = PlacementPolicyForm
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("strategy", "provider_order", "enabled_providers")}),
        ("Local or cloud (seed 003 §1.3)", {"fields": (
            "local_tolerance", "urgent_local_wait_s", "max_local_wait_s", "large_media_gb",
            "large_media_upload_s", "large_media_cloud_advantage")}),
        ("Cloud offers", {"fields": (
            "spot_urgencies", "spot_interruption_per_hour", "upload_mbps", "min_reliability",
            "max_price_age_s")}),
        ("Budget", {"fields": ("max_hourly_price", "max_job_cost", "monthly_budget")}),
        ("Local costs and display", {"fields": ("energy_price_per_kwh", "currency",
                                                "alternatives", "updated_at")}),
    )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # There is one policy: the list would be a page with a single link.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        policy = PlacementPolicy.current()
        return HttpResponseRedirect(
            reverse("admin:placement_placementpolicy_change", args=[policy.pk]))

    def save_model(self, request: HttpRequest, obj: PlacementPolicy, form: forms.ModelForm,
                   change: bool) -> None:
        before = PlacementPolicy.objects.filter(pk=obj.pk).first()
        super().save_model(request, obj, form, change)
        trail.record(trail.user_actor(request.user), "policy.changed", "placement-policy",
                     changes=services.policy_changes(before, obj))


@admin.register(CloudOffer)
class CloudOfferAdmin(RoleAdmin):
    """The stored price snapshot; loaded with ``manage.py aima_offers load``."""

    list_display = ("provider", "instance_type", "gpu_model", "gpu_count", "vram_gb", "region",
                    "price_per_hour", "spot_price_per_hour", "reliability", "priced_at")
    list_filter = ("provider", "gpu_model")
    search_fields = ("provider", "instance_type", "gpu_model", "region", "offer_id")

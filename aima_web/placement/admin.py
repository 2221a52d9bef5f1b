from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from aima_tasks.kernel.classification import Urgency
from aima_web.access.admin import RoleAdmin
from aima_web.audit import trail
from aima_web.core.choices import choices
from aima_web.placement import prices, services
from aima_web.placement.models import CloudOffer, PlacementPolicy, ProviderRefresh


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
    """The stored prices: refreshed from the providers (``manage.py aima_offers
    refresh``, and the beat) or loaded from snapshots (``aima_offers load``).
    The list opens with each provider's refresh status; an offer's page shows
    its price history."""

    list_display = ("provider", "instance_type", "gpu_model", "gpu_count", "vram_gb", "region",
                    "price_per_hour", "spot_price_per_hour", "reliability", "priced_at",
                    "price_state")
    list_filter = ("provider", "gpu_model")
    search_fields = ("provider", "instance_type", "gpu_model", "region", "offer_id")
    readonly_fields = ("price_history",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CloudOffer]:
        # One query for the list's flag rather than one per row.
        failing = ProviderRefresh.objects.filter(provider=OuterRef("provider"))
        return super().get_queryset(request).annotate(
            refresh_failing_since=Subquery(failing.values("failing_since")[:1]))

    @admin.display(description="prices")
    def price_state(self, obj: CloudOffer) -> str:
        since = getattr(obj, "refresh_failing_since", None)
        return "current" if since is None else (
            f"last good (refresh failing since {since:%Y-%m-%d %H:%M})")

    @admin.display(description="price history")
    def price_history(self, obj: CloudOffer) -> SafeString:
        return history_html(obj.key)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        statuses = [(row.provider, row.failing, row.status())
                    for row in ProviderRefresh.objects.all()]
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "refresh_statuses": statuses})


# The newest prices an offer's page lists.
HISTORY_ROWS = 48


def history_html(key: str) -> SafeString:
    rows = prices.history(key=key)
    recent = list(rows[:HISTORY_ROWS])
    if not recent:
        return format_html("<p>{}</p>", "No prices recorded.")
    total = rows.count()
    table = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (f"{row.priced_at:%Y-%m-%d %H:%M}", f"{row.price_per_hour:.4f}",
         "-" if row.spot_price_per_hour is None else f"{row.spot_price_per_hour:.4f}")
        for row in recent))
    return format_html(
        "<p>{}</p><table><tr><th>priced at (UTC)</th><th>on demand / h</th>"
        "<th>spot / h</th></tr>{}</table>",
        f"{total} price(s) recorded" + (f", the newest {len(recent)} shown"
                                        if total > len(recent) else ""), table)

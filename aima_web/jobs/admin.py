from django.contrib import admin
from django.utils.safestring import SafeString

from aima_web.access.admin import RoleAdmin, RoleTabularInline
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.jobs.states import JobState
from aima_web.placement.html import decision_html
from aima_web.placement.models import PlacementPolicy


class AnalysisResultInline(RoleTabularInline):
    model = AnalysisResult
    extra = 0
    can_delete = False
    fields = ("analysis", "started_at", "finished_at", "gpu_uuid", "data")
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(RoleAdmin):
    list_display = ("id", "owner", "state", "media_type", "confidentiality", "urgency",
                    "placed_on", "gpu", "created_at", "finished_at")
    list_filter = ("state", "confidentiality", "urgency", "media__media_type")
    search_fields = ("id", "media__sha256", "media_name", "owner__username")
    list_select_related = ("owner", "media", "gpu")
    readonly_fields = [*(f.name for f in Job._meta.fields), "placement_decision"]
    fieldsets = (
        (None, {"fields": [f.name for f in Job._meta.fields if f.name != "placement"]}),
        ("Placement", {"fields": ["placement_decision"]}),
        ("Placement record (JSON)", {"fields": ["placement"], "classes": ["collapse"]}),
    )
    inlines = [AnalysisResultInline]

    @admin.display(ordering="media__media_type")
    def media_type(self, job: Job) -> str:
        return job.media.media_type

    @admin.display(description="placement")
    def placed_on(self, job: Job) -> str:
        placement = job.placement or {}
        if job.state == JobState.DEFERRED and job.deferred_until:
            return f"deferred until {job.deferred_until:%Y-%m-%d %H:%M %Z}"
        return placement.get("queue") or ("not placed" if placement else "—")

    @admin.display(description="decision")
    def placement_decision(self, job: Job) -> SafeString:
        return decision_html(job.placement, PlacementPolicy.current().currency)


@admin.register(MediaAsset)
class MediaAssetAdmin(RoleAdmin):
    list_display = ("sha256", "media_type", "size_bytes", "probed_at", "created_at")
    list_filter = ("media_type",)
    search_fields = ("sha256",)
    readonly_fields = [f.name for f in MediaAsset._meta.fields]

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from aima_web.access.admin import RoleAdmin
from aima_web.audit import trail
from aima_web.registry import services
from aima_web.registry.models import ModelArtifact, ModelStatus


@admin.register(ModelArtifact)
class ModelArtifactAdmin(RoleAdmin):
    list_display = ("name", "version", "task", "status", "canary_share", "precision",
                    "min_vram_gb", "size_bytes", "sha256", "activated_at")
    list_filter = ("task", "status", "precision")
    search_fields = ("name", "version", "sha256", "task")
    # The bytes are the artifact: added with `manage.py aima_models add`, never edited.
    readonly_fields = ("name", "version", "sha256", "size_bytes", "filename", "added_at",
                       "activated_at", "erased_at")
    fields = ("name", "version", "task", "status", "canary_share", "precision", "min_vram_gb",
              "config", "filename", "size_bytes", "sha256", "added_at", "activated_at",
              "erased_at")
    actions = ["activate", "roll_back"]

    def save_model(self, request: HttpRequest, obj: ModelArtifact, form, change: bool) -> None:
        status = ModelStatus(obj.status)
        if change and "status" in form.changed_data:
            # Through the service: activating retires the other active version.
            obj.status = form.initial["status"]
            super().save_model(request, obj, form, change)
            try:
                services.set_status(obj, status, trail.user_actor(request.user))
            except services.RegistryError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Make the selected versions active (retires the active one)")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelArtifact]) -> None:
        activated = 0
        for artifact in queryset:
            try:
                services.set_status(artifact, ModelStatus.ACTIVE, trail.user_actor(request.user))
            except services.RegistryError as exc:  # an erased enrolment
                self.message_user(request, str(exc), level=messages.WARNING)
                continue
            activated += 1
        self.message_user(request, f"Activated {activated} version(s).")

    @admin.action(description="Roll back to the previously active version")
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelArtifact]) -> None:
        for name in sorted(set(queryset.values_list("name", flat=True))):
            try:
                restored = services.roll_back(name, trail.user_actor(request.user))
            except services.RegistryError as exc:
                self.message_user(request, str(exc), level=messages.WARNING)
                continue
            self.message_user(request, f"{name}: back to version {restored.version}.")

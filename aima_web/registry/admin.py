from django.contrib import admin

from aima_web.registry.models import ModelArtifact


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "filename", "size_bytes", "sha256", "added_at")
    search_fields = ("name", "version", "sha256")
    # The bytes are the artifact: added with `manage.py aima_models add`, never edited.
    readonly_fields = ("name", "version", "sha256", "size_bytes", "filename", "added_at")

    def has_add_permission(self, request) -> bool:
        return False

from django.contrib import admin

from aima_web.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "subject")
    list_filter = ("action",)
    search_fields = ("actor", "subject")
    readonly_fields = ("created_at", "actor", "action", "subject", "detail")

    # The trail is evidence: nobody edits or deletes it through the admin.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

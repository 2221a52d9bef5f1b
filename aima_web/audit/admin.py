from django.contrib import admin

from aima_web.access.admin import RoleAdmin
from aima_web.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(RoleAdmin):
    list_display = ("seq", "created_at", "actor", "action", "subject", "short_hash")
    list_filter = ("action",)
    search_fields = ("actor", "subject", "hash")
    fields = readonly_fields = ("seq", "created_at", "actor", "action", "subject", "detail",
                                "prev_hash", "hash")

    @admin.display(description="hash")
    def short_hash(self, event: AuditEvent) -> str:
        return f"{event.hash[:12]}…"

    # The trail is evidence: nobody edits or deletes it through the admin,
    # superusers included.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

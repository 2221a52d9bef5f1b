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


from django.contrib import admin

from aima_web.access.admin import RoleAdmin
from aima_web.alerts.models import Alert


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(Alert)
class AlertAdmin(RoleAdmin):
    """Alerts AIMA raised itself; read-only: they resolve when their condition clears."""

    list_display = ("raised_at", "kind", "subject", "severity", "message", "resolved_at",
                    "notified_at", "resolved_notified_at")
    list_filter = (OpenFilter, "kind", "severity")
    search_fields = ("subject", "message")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Alert._meta.fields]

from django.contrib import admin
from django.http import HttpRequest

from aima_web.privacy.models import LegalHold, RetentionPolicy


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("confidentiality", "media_days", "results_days", "updated_at")
    list_editable = ("media_days", "results_days")
    readonly_fields = ("updated_at",)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("job", "reason", "placed_by", "placed_at")
    search_fields = ("job__id", "reason", "job__owner__username")
    raw_id_fields = ("job",)
    readonly_fields = ("placed_by", "placed_at")

    def save_model(self, request: HttpRequest, obj: LegalHold, form: object,
                   change: bool) -> None:
        if not change:
            obj.placed_by = request.user
        super().save_model(request, obj, form, change)

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from aima_web.access.admin import RoleAdmin
from aima_web.audit import trail
from aima_web.instances.admin_providers import provider_rows
from aima_web.instances.ending import terminate
from aima_web.instances.models import CloudInstance


@admin.register(CloudInstance)
class CloudInstanceAdmin(RoleAdmin):
    """What AIMA rents, what it costs, and a way to end it by hand."""

    list_display = ("name", "provider", "instance_type", "gpu_class", "spot", "state",
                    "price_per_hour", "launched_at", "terminated_at", "cost")
    list_filter = ("state", "provider", "gpu_class", "spot")
    search_fields = ("provider_instance_id", "offer_id", "gpu_model")
    actions = ["terminate"]

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict | None = None) -> HttpResponse:
        # The providers that rent them, above the list: read-only, secrets masked.
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "provider_rows": provider_rows()})

    def get_readonly_fields(self, request: HttpRequest, obj: CloudInstance | None = None):
        return [field.name for field in CloudInstance._meta.fields]

    @admin.action(description="Terminate the selected instances now")
    def terminate(self, request: HttpRequest, queryset: QuerySet[CloudInstance]) -> None:
        ended = 0
        for instance in queryset:
            if terminate(instance, f"terminated by {request.user} in the admin"):
                ended += 1
                trail.record(trail.user_actor(request.user), "instance.terminated_by_hand",
                             f"instance:{instance.pk}")
        self.message_user(request, f"Terminated {ended} instance(s).")

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from aima_web.audit import trail
from aima_web.fleet.credentials import digest, new_secret
from aima_web.fleet.models import Agent, EnrollmentToken, LocalGPU
from aima_web.placement.models import PlacementPolicy


@admin.register(LocalGPU)
class LocalGPUAdmin(admin.ModelAdmin):
    """Manual registration of on-premises GPUs (seed 003 §2.1)."""

    list_display = ("model", "vram_gb", "cuda_version", "host", "location", "status",
                    "simulated", "agent", "registered_at")
    list_filter = ("status", "simulated", "location")
    search_fields = ("model", "host", "uuid", "location")
    readonly_fields = ("uuid", "simulated", "agent", "registered_at", "retired_at",
                       "cost_per_hour")
    fieldsets = (
        (None, {"fields": ("model", "vram_gb", "cuda_version", "host", "location",
                           "availability_schedule", "access_restrictions", "status")}),
        ("Cost and speed", {"fields": ("power_watts", "purchase_price", "lifetime_hours",
                                       "cost_per_hour", "performance_profile")}),
        ("Reported by the agent", {"fields": ("uuid", "simulated", "agent", "registered_at",
                                              "retired_at")}),
    )
    actions = ["retire"]

    @admin.display(description="cost per hour")
    def cost_per_hour(self, gpu: LocalGPU) -> str:
        policy = PlacementPolicy.current()
        return (f"{gpu.cost_per_hour_at(float(policy.energy_price_per_kwh)):.4f} "
                f"{policy.currency} (energy at {policy.energy_price_per_kwh} per kWh from the "
                f"placement policy, plus depreciation)")

    def save_model(self, request: HttpRequest, obj: LocalGPU, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        trail.record(trail.user_actor(request.user), "gpu.changed" if change else "gpu.registered",
                     f"gpu:{obj.id}", model=obj.model, vram_gb=obj.vram_gb, status=obj.status)

    @admin.action(description="Retire the selected GPUs (they take no more work)")
    def retire(self, request: HttpRequest, queryset: QuerySet[LocalGPU]) -> None:
        for gpu in queryset:
            gpu.retire()
            trail.record(trail.user_actor(request.user), "gpu.retired", f"gpu:{gpu.id}")
        self.message_user(request, f"Retired {queryset.count()} GPU(s).")


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "scope", "online", "last_heartbeat", "version", "registered_at")
    list_filter = ("scope",)
    search_fields = ("name",)
    readonly_fields = ("name", "scope", "queues", "version", "registered_at", "last_heartbeat",
                       "enrolled_with")

    @admin.display(boolean=True)
    def online(self, agent: Agent) -> bool:
        return agent.online

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # agents enrol themselves with a token


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(admin.ModelAdmin):
    list_display = ("label", "created_at", "expires_at", "revoked", "last_used_at")
    fields = ("label", "expires_at", "revoked")

    def save_model(self, request: HttpRequest, obj: EnrollmentToken, form, change: bool) -> None:
        if not change:
            secret = new_secret()
            obj.token_hash = digest(secret)
            self.message_user(
                request, f"Enrollment token for {obj.label!r} (shown once, copy it now): {secret}",
                level=messages.WARNING)
        super().save_model(request, obj, form, change)

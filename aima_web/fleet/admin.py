from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from aima_tasks.kernel.classification import GpuStatus
from aima_web.access.admin import RoleAdmin
from aima_web.access.visibility import unknown_teams
from aima_web.audit import trail
from aima_web.fleet import services
from aima_web.fleet.credentials import digest, new_secret
from aima_web.fleet.models import Agent, EnrollmentToken, GpuTelemetry, LocalGPU
from aima_web.placement.models import PlacementPolicy

# The change page shows this many of a GPU's newest telemetry samples.
RECENT_SAMPLES = 20
TELEMETRY_COLUMNS = ("received", "activity", "utilisation %", "memory GB", "°C",
                     "slowdown °C", "W", "processes", "failure")


def _telemetry_cells(sample: GpuTelemetry) -> tuple:
    memory = (f"{sample.memory_used_gb:g} of {sample.memory_total_gb:g}"
              if sample.memory_used_gb is not None and sample.memory_total_gb is not None
              else None)
    cells = (localtime(sample.received_at).strftime("%Y-%m-%d %H:%M:%S"), sample.activity,
             sample.utilization_pct, memory, sample.temperature_c,
             sample.slowdown_temperature_c, sample.power_w, len(sample.processes),
             sample.failure)
    return tuple("-" if cell is None or cell == "" else cell for cell in cells)


class LocalGPUForm(forms.ModelForm):
    class Meta:
        model = LocalGPU
        exclude: list[str] = []
        help_texts = {"access_restrictions": 'Teams (user groups) allowed to use this GPU, e.g. '
                                             '["forensics"]; empty means everyone.'}

    def clean_access_restrictions(self) -> object:
        names = self.cleaned_data["access_restrictions"]
        # Anything but a list of names is refused by the model's own check.
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            unknown = unknown_teams(names)
            if unknown:
                raise forms.ValidationError(
                    f"no team (user group that is not a role) named {', '.join(unknown)}")
        return names


@admin.register(LocalGPU)
class LocalGPUAdmin(RoleAdmin):
    """Manual registration of on-premises GPUs (seed 003 §2.1)."""

    form = LocalGPUForm

    list_display = ("model", "vram_gb", "cuda_version", "host", "location", "status",
                    "health", "health_reason", "simulated", "agent", "registered_at")
    list_filter = ("status", "health", "simulated", "location")
    search_fields = ("model", "host", "uuid", "location")
    readonly_fields = ("uuid", "simulated", "agent", "registered_at", "retired_at",
                       "health", "health_reason", "cost_per_hour", "recent_telemetry",
                       "compute_benchmark")
    fieldsets = (
        (None, {"fields": ("model", "vram_gb", "cuda_version", "host", "location",
                           "availability_schedule", "access_restrictions", "status")}),
        ("Cost and speed", {"fields": ("power_watts", "purchase_price", "lifetime_hours",
                                       "cost_per_hour", "performance_profile",
                                       "compute_benchmark")}),
        ("Reported by the agent", {"fields": ("uuid", "simulated", "agent", "registered_at",
                                              "retired_at")}),
        ("Telemetry", {"fields": ("health", "health_reason", "recent_telemetry")}),
    )
    actions = ["drain", "resume", "retire", "release"]

    @admin.display(description="cost per hour")
    def cost_per_hour(self, gpu: LocalGPU) -> str:
        policy = PlacementPolicy.current()
        return (f"{gpu.cost_per_hour_at(float(policy.energy_price_per_kwh)):.4f} "
                f"{policy.currency} (energy at {policy.energy_price_per_kwh} per kWh from the "
                f"placement policy, plus depreciation)")

    @admin.display(description="recent samples")
    def recent_telemetry(self, gpu: LocalGPU) -> str:
        # A table, not an inline: read-only, and bounded to the newest few.
        samples = list(gpu.telemetry.all()[:RECENT_SAMPLES]) if gpu.pk else []
        if not samples:
            return "none kept"
        header = format_html_join("", "<th>{}</th>", ((h,) for h in TELEMETRY_COLUMNS))
        rows = format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in _telemetry_cells(s))),)
            for s in samples))
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
                           header, rows)

    def save_model(self, request: HttpRequest, obj: LocalGPU, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        trail.record(trail.user_actor(request.user), "gpu.changed" if change else "gpu.registered",
                     f"gpu:{obj.id}", model=obj.model, vram_gb=obj.vram_gb, status=obj.status)

    @admin.action(description="Drain the selected GPUs: finish the task at hand, take no more "
                              "(maintenance)")
    def drain(self, request: HttpRequest, queryset: QuerySet[LocalGPU]) -> None:
        self._set_status(request, queryset, GpuStatus.MAINTENANCE, "Drained")

    @admin.action(description="Return the selected GPUs to service after maintenance")
    def resume(self, request: HttpRequest, queryset: QuerySet[LocalGPU]) -> None:
        self._set_status(request, queryset, GpuStatus.AVAILABLE, "Returned to service")

    def _set_status(self, request: HttpRequest, queryset: QuerySet[LocalGPU], to: GpuStatus,
                    done: str) -> None:
        problems = [p for p in (services.set_status(gpu, to, trail.user_actor(request.user))
                                for gpu in queryset) if p]
        for problem in problems:
            self.message_user(request, problem, level=messages.WARNING)
        self.message_user(request, f"{done}: {queryset.count() - len(problems)} GPU(s).")

    @admin.action(description="Retire the selected GPUs (they take no more work)")
    def retire(self, request: HttpRequest, queryset: QuerySet[LocalGPU]) -> None:
        for gpu in queryset:
            gpu.retire()
            trail.record(trail.user_actor(request.user), "gpu.retired", f"gpu:{gpu.id}")
        self.message_user(request, f"Retired {queryset.count()} GPU(s).")


    @admin.action(description="Release from its agent: the next agent that reports the GPU "
                              "may register it (a reinstalled host, a card moved)")
    def release(self, request: HttpRequest, queryset: QuerySet[LocalGPU]) -> None:
        for gpu in queryset:
            services.release(gpu, trail.user_actor(request.user))
        self.message_user(request, f"Released {queryset.count()} GPU(s).")


@admin.register(Agent)
class AgentAdmin(RoleAdmin):
    list_display = ("name", "scope", "online", "last_heartbeat", "version", "registered_at")
    list_filter = ("scope",)
    search_fields = ("name",)
    readonly_fields = ("name", "scope", "queues", "version", "registered_at", "last_heartbeat",
                       "enrolled_with")

    @admin.display(boolean=True)
    def online(self, agent: Agent) -> bool:
        return agent.online


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(RoleAdmin):
    list_display = ("label", "scope", "uses", "max_uses", "created_at", "expires_at", "revoked",
                    "last_used_at")
    list_filter = ("scope", "revoked")
    fields = ("label", "scope", "max_uses", "expires_at", "revoked")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        # Short-lived unless the admin says otherwise.
        return {"expires_at": services.default_expiry()}

    def get_readonly_fields(self, request: HttpRequest, obj: EnrollmentToken | None = None):
        # What a token grants is fixed once made: revoke it and make another.
        return ("scope", "max_uses") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: EnrollmentToken, form, change: bool) -> None:
        if not change:
            secret = new_secret()
            obj.token_hash = digest(secret)
            self.message_user(
                request, f"Enrollment token for {obj.label!r} (shown once, copy it now): {secret}",
                level=messages.WARNING)
        super().save_model(request, obj, form, change)
        trail.record(trail.user_actor(request.user),
                     "enrollment.changed" if change else "enrollment.created",
                     f"enrollment:{obj.pk}", label=obj.label, scope=obj.scope,
                     max_uses=obj.max_uses, revoked=obj.revoked)

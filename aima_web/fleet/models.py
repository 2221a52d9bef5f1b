"""The GPU fleet: local GPUs (registered by hand or by an agent), the agents
that serve them, and the enrollment tokens agents join with."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from aima_tasks.kernel import schedule
from aima_tasks.kernel.analyses import UnknownAnalysis, catalogue
from aima_tasks.kernel.classification import GpuActivity, GpuStatus
from aima_tasks.kernel.gpu_health import Health
from aima_tasks.kernel.placement import local_cost_per_hour
from aima_tasks.kernel.routing import Scope
from aima_web.core.choices import choices
from aima_web.placement.models import PlacementPolicy

CUDA_VERSION_RE = re.compile(r"^\d{1,2}\.\d{1,2}$")
# Three years around the clock: a common write-off period for GPUs.
DEFAULT_LIFETIME_HOURS = 3 * 365 * 24


def validate_cuda_version(value: str) -> None:
    if not CUDA_VERSION_RE.match(value):
        raise ValidationError(f"{value!r} is not a CUDA version; write it like 12.4")


def validate_schedule(value: str) -> None:
    try:
        schedule.parse(value)
    except schedule.ScheduleError as exc:
        raise ValidationError(str(exc)) from None


def validate_performance_profile(value: Any) -> None:
    example = 'write an object of analysis name to seconds per work unit, e.g. {"shots": 0.02}'
    if not isinstance(value, dict):
        raise ValidationError(example)
    try:
        catalogue().check_names(list(value))
    except UnknownAnalysis as exc:
        raise ValidationError(str(exc)) from None
    bad = sorted(name for name, seconds in value.items()
                 if isinstance(seconds, bool) or not isinstance(seconds, int | float)
                 or not math.isfinite(seconds) or seconds < 0)
    if bad:
        raise ValidationError(f"{', '.join(bad)}: not a number of seconds (0 or more); {example}")


class EnrollmentToken(models.Model):
    """A bootstrap token an agent exchanges for its own credential.

    The token, not the agent, says which scope its agents get: an admin makes
    local ones, the control plane mints a cloud one per instance. Single use and
    short-lived unless made otherwise, and revocable.
    """

    label = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(
        max_length=8, choices=[(s.value, s.value) for s in Scope], default=Scope.LOCAL.value,
        help_text="What agents enrolled with it are: local (may take confidential work) or "
                  "cloud. The agent cannot choose.")
    max_uses = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)],
        help_text="How many agents may enrol with it.")
    gpu_class = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False,
        help_text="A cloud instance's token: its agent serves this GPU class only (the broker "
                  "user the instance got may read that class's queue and no other).")
    uses = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Empty: never (not advisable).")
    revoked = models.BooleanField(default=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"{self.label} ({self.scope})"

    def usable(self) -> bool:
        return (not self.revoked and self.uses < self.max_uses
                and (self.expires_at is None or self.expires_at > timezone.now()))

    @classmethod
    def usable_q(cls) -> models.Q:
        """The same rule as :meth:`usable`, for a conditional UPDATE."""
        return (models.Q(revoked=False, uses__lt=models.F("max_uses"))
                & (models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())))


class Agent(models.Model):
    """A process on a GPU host that consumes GPU queues."""

    name = models.CharField(max_length=150, help_text="Host name the agent reported.")
    scope = models.CharField(max_length=8, choices=[(s.value, s.value) for s in Scope])
    credential_hash = models.CharField(max_length=64, unique=True, editable=False)
    enrolled_with = models.ForeignKey(EnrollmentToken, null=True, blank=True,
                                      on_delete=models.SET_NULL, editable=False)
    queues = models.JSONField(default=list, blank=True, editable=False)
    version = models.CharField(max_length=40, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope})"

    @property
    def online(self) -> bool:
        if self.last_heartbeat is None:
            return False
        limit = timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
        return timezone.now() - self.last_heartbeat < limit


class LocalGPU(models.Model):
    """An on-premises GPU: the only place confidential media may be analysed."""

    model = models.CharField(max_length=100, help_text="e.g. NVIDIA GeForce RTX 4090")
    uuid = models.CharField(max_length=80, unique=True, null=True, blank=True,
                            help_text="NVML UUID; filled in by the agent that serves this GPU.")
    vram_gb = models.FloatField(validators=[MinValueValidator(1)], verbose_name="VRAM (GB)")
    cuda_version = models.CharField(max_length=8, default="12.4",
                                    validators=[validate_cuda_version])
    host = models.CharField(max_length=150)
    location = models.CharField(max_length=150, blank=True)
    availability_schedule = models.CharField(
        max_length=200, default=schedule.ALWAYS_TEXT, validators=[validate_schedule],
        help_text="When the GPU may take work, e.g. 24/7 or Mon-Fri 18:00-08:00; days Mon..Sun "
                  "or daily, windows separated by ';', in the control plane's time zone.")
    access_restrictions = models.JSONField(
        default=list, blank=True,
        help_text='Groups allowed to use this GPU, e.g. ["forensics"]; empty means everyone.')
    status = models.CharField(max_length=12, choices=choices(GpuStatus),
                              default=GpuStatus.AVAILABLE.value)
    health = models.CharField(
        max_length=12, choices=choices(Health), default=Health.HEALTHY.value, editable=False,
        help_text="What its agent's telemetry says (aima_tasks.kernel.gpu_health): temporary "
                  "faults keep or drain it, persistent ones fail it and move its work, "
                  "critical ones put it in maintenance for an admin to look at.")
    health_reason = models.CharField(max_length=500, blank=True, editable=False,
                                      help_text="The signal behind its health, or why it is "
                                                "offline (its agent fell silent).")
    power_watts = models.FloatField(
        default=0, validators=[MinValueValidator(0)], verbose_name="power (W)",
        help_text="Typical draw under load, for the energy cost of an hour's work; "
                  "0: energy is not counted.")
    purchase_price = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)],
        help_text="What the GPU cost, in the placement policy's currency; written off over its "
                  "lifetime.")
    lifetime_hours = models.FloatField(
        default=DEFAULT_LIFETIME_HOURS, validators=[MinValueValidator(0)],
        help_text="Hours of work the purchase price is written off over "
                  f"(three years around the clock: {DEFAULT_LIFETIME_HOURS}).")
    performance_profile = models.JSONField(
        default=dict, blank=True, validators=[validate_performance_profile],
        help_text='Seconds per work unit (media second, or image) by analysis, e.g. '
                  '{"shots": 0.02}; agents fill it in from benchmarks, empty: estimated '
                  "from the GPU model.")
    compute_benchmark = models.JSONField(
        default=dict, blank=True,
        help_text="Measured by its agent at registration: FP32 and FP16 TFLOPS, memory GB/s, "
                  "and the device they were measured on (cuda, or cpu where ONNX Runtime "
                  "could not use the GPU).")
    simulated = models.BooleanField(
        default=False, help_text="No real GPU behind it: an agent run with --simulate-gpu.")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="gpus")
    registered_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host", "model", "id"]
        verbose_name = "local GPU"

    def __str__(self) -> str:
        label = f"{self.model} {self.vram_gb:g} GB @ {self.host}"
        return f"{label} (simulated)" if self.simulated else label

    def clean(self) -> None:
        restrictions = self.access_restrictions
        if not isinstance(restrictions, list) or not all(isinstance(g, str) for g in restrictions):
            raise ValidationError(
                {"access_restrictions": 'a list of group names, e.g. ["forensics"]'})
        if self.purchase_price and not self.lifetime_hours:
            raise ValidationError(
                {"lifetime_hours": "set the hours of work to write the purchase price off over"})

    def cost_per_hour_at(self, price_per_kwh: float) -> float:
        return local_cost_per_hour(self.power_watts, price_per_kwh, float(self.purchase_price),
                                   self.lifetime_hours)

    @property
    def cost_per_hour(self) -> float:
        """Energy at the placement policy's price plus depreciation."""
        return self.cost_per_hour_at(float(PlacementPolicy.current().energy_price_per_kwh))

    def retire(self) -> None:
        self.status = GpuStatus.RETIRED
        self.retired_at = timezone.now()
        self.save(update_fields=["status", "retired_at"])


class GpuTelemetry(models.Model):
    """One telemetry sample of a local GPU, as its agent's heartbeat reported
    it; kept for AIMA_GPU_HISTORY_S. The figures are null where the GPU does
    not report them or could not be read."""

    gpu = models.ForeignKey(LocalGPU, on_delete=models.CASCADE, related_name="telemetry")
    received_at = models.DateTimeField(
        help_text="When the control plane received it: agents' clocks are not trusted.")
    utilization_pct = models.PositiveSmallIntegerField(null=True, blank=True)
    memory_used_gb = models.FloatField(null=True, blank=True)
    memory_total_gb = models.FloatField(null=True, blank=True)
    temperature_c = models.SmallIntegerField(null=True, blank=True)
    slowdown_temperature_c = models.SmallIntegerField(null=True, blank=True)
    power_w = models.FloatField(null=True, blank=True)
    processes = models.JSONField(default=list, blank=True,
                                 help_text='e.g. [{"pid": 4242, "used_memory_gb": 3.5}]')
    activity = models.CharField(max_length=8, choices=choices(GpuActivity), blank=True,
                                help_text="Idle, active or busy; blank without figures.")
    error = models.CharField(max_length=500, blank=True,
                             help_text="Why the agent could not read the GPU.")
    failure = models.CharField(max_length=500, blank=True,
                               help_text="Why this sample takes the GPU out of service "
                                         "(drained, failed or alerted); blank: it serves.")
    health = models.CharField(max_length=12, choices=choices(Health), blank=True,
                              help_text="The GPU's health as judged with this sample.")
    xids = models.JSONField(default=list, blank=True,
                            help_text="XID critical errors since the sample before.")
    ecc_corrected = models.PositiveBigIntegerField(null=True, blank=True)
    ecc_uncorrected = models.PositiveBigIntegerField(null=True, blank=True)
    throttle = models.JSONField(default=list, blank=True,
                                help_text='Why its clocks are held back, e.g. ["sw_thermal"].')
    retired_pages = models.PositiveIntegerField(null=True, blank=True)
    retirement_pending = models.BooleanField(null=True, blank=True)
    lost = models.BooleanField(default=False)
    simulated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "GPU telemetry sample"
        # A GPU's newest samples, and pruning its oldest, both walk this index.
        indexes = [models.Index(fields=["gpu", "received_at"], name="fleet_gpu_telemetry_time")]

    def __str__(self) -> str:
        return f"{self.gpu_id} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


class Assignment(models.Model):
    """Which agent holds a unit of a job's work: the analyses ``analyses`` of
    segment ``segment``, as one message carried them.

    The control plane sends a unit to a queue with a ticket only it can make;
    the agent the broker hands it to presents the ticket when it starts, and
    from then on it alone may fetch the job's media and report the unit's
    results. A redelivered unit (its first holder died) passes to whoever
    presents the ticket next; the first holder's late results are refused.
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="assignments")
    segment = models.PositiveIntegerField()
    # The unit's analyses, sorted and joined: with the segment, what identifies it.
    unit = models.CharField(max_length=500)
    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL,
                              related_name="assignments")
    gpu = models.ForeignKey(LocalGPU, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="assignments")
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["job", "segment", "unit"]
        constraints = [models.UniqueConstraint(fields=["job", "segment", "unit"],
                                               name="one_holder_per_unit")]

    def __str__(self) -> str:
        return f"{self.job_id} segment {self.segment} [{self.unit}] → agent {self.agent_id}"


class Hearing(models.Model):
    """Since when the control plane has been able to hear its agents (one row,
    written by the fleet health round: aima_web.fleet.hearing). Silence from a
    time it could not have heard them — its database down, its beat stopped —
    is no agent's fault and loses none."""

    since = models.DateTimeField()
    last_round_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"hearing since {self.since:%Y-%m-%d %H:%M:%S}"

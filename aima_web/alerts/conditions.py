"""The conditions that raise alerts: pure rules over plain figures first, then
what reads those figures from the database (one reader per condition).

Each reader returns the findings of its kinds, or None when it cannot tell
(the control plane was deaf to its agents): the open alerts of those kinds
then stay as they are rather than resolve on no evidence."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery

from aima_tasks.kernel.classification import GpuStatus, Urgency
from aima_tasks.kernel.gpu_health import Health
from aima_tasks.kernel.telemetry import OVERHEAT_FALLBACK_C
from aima_web.alerts.models import Kind, Severity
from aima_web.fleet import health, hearing
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.instances.billing import billed_this_month
from aima_web.instances.models import CloudInstance
from aima_web.instances.states import AVAILABLE
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement.models import PlacementPolicy

log = logging.getLogger(__name__)

# An instance with no job for longer than this is money for nothing.
IDLE_INSTANCE_S = 15 * 60
# Job failure rate: over this share of the jobs finished in the window failed...
FAILURE_SHARE = 0.20
# ...with at least this many finished there (two failures of three say little).
FAILURE_MIN_JOBS = 5
FAILURE_WINDOW = timedelta(hours=1)
# Shares of the monthly budget that raise an alert, and their kinds.
BUDGET_STEPS = ((1.0, Kind.BUDGET_100, Severity.CRITICAL),
                (0.8, Kind.BUDGET_80, Severity.WARNING))
# GPU health classes that take a GPU out of service (aima_tasks.kernel.gpu_health);
# temporary ones (overheating, a throttle) lift themselves or are alerted apart.
FAILED_HEALTH = (Health.PERSISTENT, Health.CRITICAL)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    subject: str
    severity: Severity
    message: str


# --- pure rules -------------------------------------------------------------

def overheating(temperature_c: float | None, slowdown_c: float | None) -> bool:
    """At or over the GPU's own slowdown temperature, or over the fallback limit
    when NVML gives none: the same rule as telemetry.failure."""
    if temperature_c is None:
        return False
    if slowdown_c is not None:
        return temperature_c >= slowdown_c
    return temperature_c > OVERHEAT_FALLBACK_C


def budget_steps_reached(spent: float, budget: float | None) -> list[tuple[Kind, Severity]]:
    """The budget alerts that ``spent`` of ``budget`` has reached (none without a budget)."""
    if budget is None or budget <= 0:
        return []
    return [(kind, severity) for share, kind, severity in BUDGET_STEPS
            if spent >= share * budget]


def failure_rate_high(failed: int, finished: int) -> bool:
    return finished >= FAILURE_MIN_JOBS and failed > FAILURE_SHARE * finished


def wait_target_s(urgency: str, urgent_wait_s: float, max_wait_s: float) -> float:
    """How long a queued job may wait, as the placement policy says: an urgent one
    the urgent local wait, the others the longest local wait."""
    return urgent_wait_s if urgency == Urgency.HIGH else max_wait_s


# --- readers ----------------------------------------------------------------

Reader = Callable[[datetime], "list[Finding] | None"]


def gpu_overheating(now: datetime) -> list[Finding]:
    """The newest sample of each GPU in service, however old: a GPU whose agent
    fell silent hot stays alerted (its agent's silence is an alert of its own)
    until a sample says it cooled, or its history is pruned."""
    newest = GpuTelemetry.objects.filter(gpu=OuterRef("pk"), received_at__lte=now) \
        .order_by("-received_at", "-id")
    gpus = (LocalGPU.objects.exclude(status=GpuStatus.RETIRED)
            .annotate(temp=Subquery(newest.values("temperature_c")[:1]),
                      slowdown=Subquery(newest.values("slowdown_temperature_c")[:1])))
    found = []
    for gpu in gpus:
        if overheating(gpu.temp, gpu.slowdown):
            limit = (f"slowdown at {gpu.slowdown} °C" if gpu.slowdown is not None
                     else f"above {OVERHEAT_FALLBACK_C} °C")
            found.append(Finding(Kind.GPU_OVERHEATING, f"gpu:{gpu.pk}", Severity.CRITICAL,
                                 f"{gpu} is at {gpu.temp} °C ({limit})"))
    return found


def gpu_failed(now: datetime) -> list[Finding]:
    gpus = LocalGPU.objects.exclude(status=GpuStatus.RETIRED).filter(health__in=FAILED_HEALTH)
    return [Finding(Kind.GPU_FAILED, f"gpu:{gpu.pk}", Severity.CRITICAL,
                    f"{gpu} failed ({gpu.health}): {gpu.health_reason or gpu.status}"[:500])
            for gpu in gpus]


def agent_silent(now: datetime) -> list[Finding] | None:
    """Agents the fleet counts as lost (fleet.health.silent_agents), by its own
    threshold; None while the control plane has not heard long enough to tell."""
    if hearing.lost_before(now) is None:
        return None
    return [Finding(Kind.AGENT_SILENT, f"agent:{agent.pk}", Severity.CRITICAL,
                    f"agent {agent} sent no heartbeat since "
                    f"{agent.last_heartbeat:%Y-%m-%d %H:%M:%S} "
                    f"(lost after {settings.AIMA_AGENT_OFFLINE_AFTER_S} s)")
            for agent in Agent.objects.filter(health.silent_agents(now))]


def queue_wait(now: datetime) -> list[Finding]:
    """One alert for the queue: how many jobs wait past their target, the oldest."""
    policy = PlacementPolicy.current()
    late = []
    for job in Job.objects.filter(state=JobState.QUEUED, queued_at__isnull=False) \
            .only("pk", "urgency", "queued_at"):
        waited = (now - job.queued_at).total_seconds()
        if waited > wait_target_s(job.urgency, policy.urgent_local_wait_s,
                                  policy.max_local_wait_s):
            late.append((waited, job.pk))
    if not late:
        return []
    waited, oldest = max(late)
    return [Finding(Kind.QUEUE_WAIT, "queue", Severity.WARNING,
                    f"{len(late)} job(s) queued longer than the policy's wait target; "
                    f"the longest, {oldest}, for {waited / 60:.0f} min")]


def budget(now: datetime) -> list[Finding]:
    policy = PlacementPolicy.current()
    limit = None if policy.monthly_budget is None else float(policy.monthly_budget)
    spent = billed_this_month(now) if limit else 0.0
    return [Finding(kind, "budget", severity,
                    f"{spent:.2f} of this month's cloud budget of {limit:.2f} "
                    f"{policy.currency} is spent ({spent / limit:.0%})")
            for kind, severity in budget_steps_reached(spent, limit)]


def instance_idle(now: datetime) -> list[Finding]:
    since = now - timedelta(seconds=IDLE_INSTANCE_S)
    return [Finding(Kind.INSTANCE_IDLE, f"instance:{instance.pk}", Severity.WARNING,
                    f"{instance} has run no job since {instance.idle_since:%H:%M:%S} "
                    f"({instance.price_per_hour:.2f}/h)")
            for instance in CloudInstance.objects.filter(state__in=AVAILABLE,
                                                         idle_since__lte=since)]


def job_failure_rate(now: datetime) -> list[Finding]:
    """Succeeded and failed jobs of the last hour; a cancelled one is a user's
    choice, not a failure, and counts for neither."""
    ended = Job.objects.filter(finished_at__gte=now - FAILURE_WINDOW, finished_at__lte=now,
                               state__in=[JobState.SUCCEEDED, JobState.FAILED])
    finished = ended.count()
    failed = ended.filter(state=JobState.FAILED).count()
    if not failure_rate_high(failed, finished):
        return []
    return [Finding(Kind.JOB_FAILURE_RATE, "jobs", Severity.WARNING,
                    f"{failed} of {finished} jobs finished in the last hour failed")]


# Each reader and the kinds it speaks for.
READERS: tuple[tuple[Reader, tuple[Kind, ...]], ...] = (
    (gpu_overheating, (Kind.GPU_OVERHEATING,)),
    (gpu_failed, (Kind.GPU_FAILED,)),
    (agent_silent, (Kind.AGENT_SILENT,)),
    (queue_wait, (Kind.QUEUE_WAIT,)),
    (budget, (Kind.BUDGET_80, Kind.BUDGET_100)),
    (instance_idle, (Kind.INSTANCE_IDLE,)),
    (job_failure_rate, (Kind.JOB_FAILURE_RATE,)),
)


def survey(now: datetime) -> tuple[list[Finding], set[Kind]]:
    """Every finding now, and the kinds that could be judged: a reader that
    cannot tell, or fails, leaves its kinds' alerts as they are."""
    findings: list[Finding] = []
    judged: set[Kind] = set()
    for reader, kinds in READERS:
        try:
            found = reader(now)
        except Exception:  # one broken condition must not silence the others
            log.exception("alert condition %s could not be read", reader.__name__)
            continue
        if found is not None:
            findings.extend(found)
            judged.update(kinds)
    return findings, judged

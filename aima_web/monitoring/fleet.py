"""GPU and agent series: the latest telemetry sample of each GPU in service,
whether its agent is heard, and how long ago each agent was last heard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from django.db.models import OuterRef, Subquery
from prometheus_client.core import Metric

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.gpu_health import Health
from aima_tasks.kernel.routing import Scope
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.instances.states import ENDED
from aima_web.monitoring.families import gauge

GB = 1024**3
# Telemetry field -> (metric, factor to the metric's unit).
SAMPLED = {
    "utilization_pct": ("aima_gpu_utilization_ratio", 0.01),
    "memory_used_gb": ("aima_gpu_memory_used_bytes", GB),
    "temperature_c": ("aima_gpu_temperature_celsius", 1),
    "slowdown_temperature_c": ("aima_gpu_slowdown_temperature_celsius", 1),
    "power_w": ("aima_gpu_power_watts", 1),
}


def gpus_in_service():
    """GPUs not retired nor on an ended instance, each with its latest sample's id
    (``latest_id``): what /metrics and the dashboard show."""
    latest = GpuTelemetry.objects.filter(gpu=OuterRef("pk")).order_by("-received_at", "-id")
    # A cloud GPU whose instance has ended is gone for good, not down.
    return (LocalGPU.objects.exclude(status=GpuStatus.RETIRED)
            .exclude(agent__instance__state__in=ENDED)
            .select_related("agent", "agent__instance")
            .annotate(latest_id=Subquery(latest.values("id")[:1])))


def gpu_labels(gpu: LocalGPU) -> list[str]:
    """gpu, model, host, scope, provider: a GPU with no agent counts as local
    (an admin registered it by hand), a cloud one names its instance's provider."""
    agent = gpu.agent
    scope = agent.scope if agent else Scope.LOCAL.value
    instance = getattr(agent, "instance", None) if agent else None
    provider = instance.provider if scope == Scope.CLOUD and instance else ""
    return [str(gpu.pk), gpu.model, gpu.host, scope, provider]


def gpu_families() -> Iterator[Metric]:
    gpus = list(gpus_in_service())
    samples = GpuTelemetry.objects.in_bulk([g.latest_id for g in gpus if g.latest_id])
    families = {name: gauge(name) for name, _ in SAMPLED.values()}
    total, up, failed = (gauge("aima_gpu_memory_total_bytes"), gauge("aima_gpu_up"),
                         gauge("aima_gpu_failed"))
    for gpu in gpus:
        labels = gpu_labels(gpu)
        sample = samples.get(gpu.latest_id)
        # The card's own report of its memory wins over the registered size.
        memory_gb = sample.memory_total_gb if sample and sample.memory_total_gb else gpu.vram_gb
        total.add_metric(labels, memory_gb * GB)
        up.add_metric(labels, 1.0 if gpu.agent and gpu.agent.online else 0.0)
        bad = gpu.status == GpuStatus.FAILED or gpu.health != Health.HEALTHY
        failed.add_metric(labels, 1.0 if bad else 0.0)
        for field, (name, factor) in SAMPLED.items():
            value = getattr(sample, field) if sample else None
            if value is not None:  # not reported, or unreadable: no sample rather than 0
                families[name].add_metric(labels, float(value) * factor)
    yield from families.values()
    yield from (total, up, failed)


def agent_families(now: datetime) -> Iterator[Metric]:
    """Heartbeat age of every agent that has been heard, but not of a cloud
    agent whose instance has ended: it is silent for good, by design."""
    family = gauge("aima_agent_heartbeat_age_seconds")
    agents = list(Agent.objects.filter(last_heartbeat__isnull=False)
              .exclude(instance__state__in=ENDED))
    names = Counter(agent.name for agent in agents)
    for agent in agents:
        age = max((now - agent.last_heartbeat).total_seconds(), 0.0)
        # Two agents on hosts of one name would make one series twice: told apart by id.
        name = agent.name if names[agent.name] == 1 else f"{agent.name}#{agent.pk}"
        family.add_metric([name, agent.scope], age)
    yield family

"""Storing the telemetry agents send with their heartbeats: a short history
per local GPU, and its failed status set and lifted by what the samples show."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from aima_tasks.kernel import telemetry
from aima_tasks.kernel.classification import ADMIN_GPU_STATUSES, GpuStatus
from aima_tasks.kernel.telemetry import GpuSample
from aima_web.audit import trail
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU


def record(agent: Agent, samples: list[GpuSample], now: datetime) -> None:
    """Store a sample per GPU this agent serves and prune what is older than
    the history kept. Samples of GPUs it does not serve are dropped (a cloud
    agent serves none)."""
    gpus = {gpu.uuid: gpu for gpu in LocalGPU.objects.filter(agent=agent)}
    if not gpus:
        return
    rows = []
    for sample in samples:
        gpu = gpus.get(sample.uuid)
        if gpu is None:
            continue
        activity = telemetry.activity(sample)
        failure = telemetry.failure(sample)
        rows.append(GpuTelemetry(
            gpu=gpu, received_at=now, utilization_pct=sample.utilization_pct,
            memory_used_gb=sample.memory_used_gb, memory_total_gb=sample.memory_total_gb,
            temperature_c=sample.temperature_c,
            slowdown_temperature_c=sample.slowdown_temperature_c, power_w=sample.power_w,
            processes=[p._asdict() for p in sample.processes],
            activity=activity.value if activity else "", error=sample.error, failure=failure,
            simulated=sample.simulated))
        _follow_health(agent, gpu, failure)
    GpuTelemetry.objects.bulk_create(rows)
    # One indexed DELETE per heartbeat, for this agent's GPUs only: agents
    # never contend for the same rows, and no sweep task is needed.
    cutoff = now - timedelta(seconds=settings.AIMA_GPU_HISTORY_S)
    GpuTelemetry.objects.filter(gpu__in=list(gpus.values()), received_at__lt=cutoff).delete()


def _follow_health(agent: Agent, gpu: LocalGPU, failure: str) -> None:
    """Mark the GPU failed on a failure sample, available again on the next
    healthy one, leaving statuses an admin set on purpose alone."""
    actor = trail.agent_actor(agent.id)
    # The row read above skips the write when nothing would change; the
    # conditional update keeps an admin's change made meanwhile.
    if failure and gpu.status not in {*ADMIN_GPU_STATUSES, GpuStatus.FAILED}:
        changed = (LocalGPU.objects.filter(pk=gpu.pk)
                   .exclude(status__in=[*ADMIN_GPU_STATUSES, GpuStatus.FAILED])
                   .update(status=GpuStatus.FAILED))
        if changed:
            trail.record(actor, "gpu.failed", f"gpu:{gpu.id}", uuid=gpu.uuid, reason=failure)
    elif not failure and gpu.status == GpuStatus.FAILED:
        changed = (LocalGPU.objects.filter(pk=gpu.pk, status=GpuStatus.FAILED)
                   .update(status=GpuStatus.AVAILABLE))
        if changed:
            trail.record(actor, "gpu.recovered", f"gpu:{gpu.id}", uuid=gpu.uuid)

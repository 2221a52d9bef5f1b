"""Storing the telemetry agents send with their heartbeats: a short history
per local GPU, whose verdict (aima_tasks.kernel.gpu_health) sets the GPU's
health and status (aima_web.fleet.health)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from aima_tasks.kernel import gpu_health, telemetry
from aima_tasks.kernel.gpu_health import Reading
from aima_tasks.kernel.telemetry import GpuSample
from aima_web.fleet import health
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU


def record(agent: Agent, samples: list[GpuSample], now: datetime) -> None:
    """Store a sample per GPU this agent serves, judge each GPU's health over
    its recent samples and act on it, and prune what is older than the
    history kept. Samples of GPUs it does not serve are dropped (a cloud
    agent serves none)."""
    gpus = {gpu.uuid: gpu for gpu in LocalGPU.objects.filter(agent=agent)}
    if not gpus:
        return
    rows = []
    for sample in samples:
        gpu = gpus.get(sample.uuid)
        if gpu is None:
            continue
        verdict = gpu_health.classify([*_recent(gpu), Reading(now.timestamp(), sample)])
        activity = telemetry.activity(sample)
        rows.append(GpuTelemetry(
            gpu=gpu, received_at=now, utilization_pct=sample.utilization_pct,
            memory_used_gb=sample.memory_used_gb, memory_total_gb=sample.memory_total_gb,
            temperature_c=sample.temperature_c,
            slowdown_temperature_c=sample.slowdown_temperature_c, power_w=sample.power_w,
            processes=[p._asdict() for p in sample.processes],
            activity=activity.value if activity else "", error=sample.error,
            failure="" if verdict.takes_work else verdict.reason[:500],
            health=verdict.health, xids=list(sample.xids), ecc_corrected=sample.ecc_corrected,
            ecc_uncorrected=sample.ecc_uncorrected, throttle=list(sample.throttle),
            retired_pages=sample.retired_pages, retirement_pending=sample.retirement_pending,
            lost=sample.lost, simulated=sample.simulated))
        health.follow(agent, gpu, verdict)
    GpuTelemetry.objects.bulk_create(rows)
    # One indexed DELETE per heartbeat, for this agent's GPUs only: agents
    # never contend for the same rows, and no sweep task is needed.
    cutoff = now - timedelta(seconds=settings.AIMA_GPU_HISTORY_S)
    GpuTelemetry.objects.filter(gpu__in=list(gpus.values()), received_at__lt=cutoff).delete()


def _recent(gpu: LocalGPU) -> list[Reading]:
    """The GPU's samples before the newest, oldest first, as the verdict reads them."""
    rows = list(GpuTelemetry.objects.filter(gpu=gpu).order_by("-received_at", "-id")
                [:gpu_health.WINDOW_SAMPLES - 1])
    return [Reading(row.received_at.timestamp(), sample_of(row)) for row in reversed(rows)]


def sample_of(row: GpuTelemetry) -> GpuSample:
    return GpuSample(
        uuid=row.gpu.uuid, utilization_pct=row.utilization_pct,
        memory_used_gb=row.memory_used_gb, memory_total_gb=row.memory_total_gb,
        temperature_c=row.temperature_c, power_w=row.power_w,
        slowdown_temperature_c=row.slowdown_temperature_c, error=row.error,
        simulated=row.simulated, xids=tuple(row.xids), ecc_corrected=row.ecc_corrected,
        ecc_uncorrected=row.ecc_uncorrected, throttle=tuple(row.throttle),
        retired_pages=row.retired_pages, retirement_pending=row.retirement_pending,
        lost=row.lost)

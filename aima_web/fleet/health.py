"""Local GPUs' health on the control plane: the verdict on each heartbeat's
samples acted on (the table is in ``aima_tasks.kernel.gpu_health``), and GPUs
whose agent fell silent taken out of placement.

- keep: the GPU serves; a failed status it had is lifted.
- drain / rotate: its status becomes failed, so placement passes it over and
  its agent stops its worker after the unit at hand (``serving``); rotate also
  moves its units to another GPU (``failover``). A sample that keeps it again
  lifts it.
- alert: maintenance, which only an admin lifts, its units moved, an error
  logged and ``gpu.alert`` in the audit trail; the admin lists the GPU's
  health and reason.
- silent agent (no heartbeat for AIMA_AGENT_OFFLINE_AFTER_S): its GPUs go
  offline and its units to another GPU; its next heartbeat brings them back.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from aima_tasks.kernel.classification import ADMIN_GPU_STATUSES, GpuStatus
from aima_tasks.kernel.gpu_health import Action, Health, Verdict
from aima_tasks.kernel.routing import Scope, TaskName
from aima_web.audit import trail
from aima_web.celery import app
from aima_web.fleet import hearing
from aima_web.fleet.models import Agent, Assignment, LocalGPU
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState

log = logging.getLogger(__name__)

# The statuses a GPU whose work must move may be in: telemetry put it there.
MOVED_FROM = (GpuStatus.FAILED, GpuStatus.MAINTENANCE, GpuStatus.OFFLINE)


def follow(agent: Agent, gpu: LocalGPU, verdict: Verdict) -> None:
    """Act on the verdict of the GPU's newest sample."""
    actor = trail.agent_actor(agent.id)
    subject = f"gpu:{gpu.id}"
    # Each change is a conditional UPDATE: an admin's change made meanwhile stays.
    if verdict.action == Action.ALERT:
        if LocalGPU.objects.filter(pk=gpu.pk).exclude(status__in=ADMIN_GPU_STATUSES).update(
                status=GpuStatus.MAINTENANCE):
            log.error("GPU %s (%s on %s) drained into maintenance: %s", gpu.id, gpu.uuid,
                      gpu.host, verdict.reason)
            trail.record(actor, "gpu.alert", subject, uuid=gpu.uuid, reason=verdict.reason,
                         status_before=gpu.status)
    elif not verdict.takes_work:
        if LocalGPU.objects.filter(pk=gpu.pk).exclude(
                status__in=[*ADMIN_GPU_STATUSES, GpuStatus.FAILED]).update(
                status=GpuStatus.FAILED):
            trail.record(actor, "gpu.failed", subject, uuid=gpu.uuid, reason=verdict.reason,
                         health=verdict.health, then=verdict.action)
    elif gpu.status == GpuStatus.FAILED and LocalGPU.objects.filter(
            pk=gpu.pk, status=GpuStatus.FAILED).update(status=GpuStatus.AVAILABLE):
        trail.record(actor, "gpu.recovered", subject, uuid=gpu.uuid)
    if (gpu.health, gpu.health_reason) != (verdict.health, verdict.reason):
        LocalGPU.objects.filter(pk=gpu.pk).update(health=verdict.health,
                                                  health_reason=verdict.reason[:500])
    if verdict.moves_work and Assignment.objects.filter(gpu=gpu).exists():
        _sweep_soon()


def back(agent: Agent) -> None:
    """The agent beats again: its GPUs that went offline with it come back."""
    returned = list(LocalGPU.objects.filter(agent=agent, status=GpuStatus.OFFLINE)
                    .values_list("pk", flat=True))
    if LocalGPU.objects.filter(pk__in=returned, status=GpuStatus.OFFLINE).update(
            status=GpuStatus.AVAILABLE, health_reason=""):
        trail.record(trail.agent_actor(agent.id), "gpu.back", f"agent:{agent.id}",
                     gpus=returned)


def silent_agents(now: datetime) -> Q:
    """Local agents declared lost: no heartbeat for AIMA_AGENT_OFFLINE_AFTER_S
    while the control plane could hear them (aima_web.fleet.hearing). (A cloud
    agent's instance is ended instead: instances.upkeep.end_silent.)"""
    cutoff = hearing.lost_before(now)
    if cutoff is None:
        return Q(pk__in=[])
    return Q(scope=Scope.LOCAL, last_heartbeat__lt=cutoff)


def take_offline(now: datetime) -> int:
    """The GPUs of lost agents leave placement; return how many went."""
    why = f"its agent sent no heartbeat for {settings.AIMA_AGENT_OFFLINE_AFTER_S} s"
    gone = 0
    for agent in Agent.objects.filter(silent_agents(now)):
        gpus = list(LocalGPU.objects.filter(agent=agent, status__in=[
            GpuStatus.AVAILABLE, GpuStatus.BUSY]).values_list("pk", flat=True))
        if not gpus:
            continue
        moved = LocalGPU.objects.filter(pk__in=gpus, status__in=[
            GpuStatus.AVAILABLE, GpuStatus.BUSY]).update(status=GpuStatus.OFFLINE,
                                                         health_reason=why)
        if moved:
            gone += moved
            log.warning("agent %s (%s) is lost: GPUs %s out of placement", agent.id,
                        agent.name, gpus)
            trail.record(trail.SYSTEM, "agent.lost", f"agent:{agent.id}", gpus=gpus,
                         last_heartbeat=agent.last_heartbeat.isoformat())
    return gone


def stranded(now: datetime) -> dict[str, Q]:
    """Which assignments hold units where they cannot finish, by why: a lost
    agent, or a GPU whose health moves its work."""
    lost = Q(agent__in=Agent.objects.filter(silent_agents(now)))
    return {
        "its agent was lost": lost,
        "its GPU failed": Q(gpu__health__in=[Health.PERSISTENT, Health.CRITICAL],
                            gpu__status__in=MOVED_FROM) & ~lost,
    }


def queued_on_gpus_out(now: datetime) -> list[str]:
    """Queued jobs, their units sent and none started, placed on a local GPU
    that left service: its agent lost, or its health moves its work."""
    out = LocalGPU.objects.filter(
        Q(agent__in=Agent.objects.filter(silent_agents(now)))
        | Q(health__in=[Health.PERSISTENT, Health.CRITICAL], status__in=MOVED_FROM))
    return [str(pk) for pk in Job.objects.filter(
        state=JobState.QUEUED, dispatched_at__isnull=False, placement__scope=Scope.LOCAL.value,
        placement__choice__gpu_id__in=list(out.values_list("pk", flat=True)))
        .values_list("pk", flat=True)]


def _sweep_soon() -> None:
    """Move the failed GPU's units now rather than at the next beat (which
    would, anyway: a broker that refuses must not fail the heartbeat)."""
    def send() -> None:
        try:
            app.send_task(TaskName.FLEET_HEALTH.value)
        except Exception as exc:  # any broker fault: the beat sweeps
            log.warning("could not ask for a fleet health sweep now: %s", exc)
    transaction.on_commit(send)

"""Agents joining the fleet and reporting in."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aima_tasks.classification import GpuStatus
from aima_tasks.routing import Scope, queues_served
from aima_tasks.telemetry import GpuSample
from aima_web.audit import trail
from aima_web.fleet import signals, telemetry
from aima_web.fleet.credentials import digest, new_secret
from aima_web.fleet.models import Agent, EnrollmentToken, LocalGPU


@dataclass(frozen=True)
class ReportedGpu:
    uuid: str
    model: str
    vram_gb: float
    cuda_version: str
    simulated: bool
    # The agent's benchmark, seconds per work unit by analysis; None: none run.
    performance_profile: dict[str, float] | None = None
    # FP32/FP16 TFLOPS and memory GB/s, and where they were measured.
    compute_benchmark: dict[str, object] | None = None


@dataclass(frozen=True)
class Registration:
    agent: Agent
    credential: str


def create_enrollment_token(label: str, expires_at=None) -> tuple[EnrollmentToken, str]:
    secret = new_secret()
    token = EnrollmentToken.objects.create(label=label, token_hash=digest(secret),
                                           expires_at=expires_at)
    trail.record(trail.SYSTEM, "enrollment.created", f"enrollment:{token.id}", label=label)
    return token, secret


@transaction.atomic
def register(token: EnrollmentToken, name: str, scope: Scope, version: str,
             gpus: list[ReportedGpu], location: str = "") -> Registration:
    """Enrol an agent and the GPUs it reported. A GPU seen before keeps its
    row, and an agent starting again keeps its identity with a new credential."""
    credential = new_secret()
    queues = sorted({q for gpu in gpus
                     for q in queues_served(scope, gpu.vram_gb, gpu.cuda_version)})
    fields = {"name": name, "scope": scope, "version": version, "queues": queues,
              "credential_hash": digest(credential), "enrolled_with": token,
              "last_heartbeat": timezone.now()}
    agent = returning_agent(token, name, scope, gpus)
    if agent is None:
        agent = Agent.objects.create(**fields)
    else:
        # The old credential dies with the process that held it.
        Agent.objects.filter(pk=agent.pk).update(**fields)
        agent.refresh_from_db()
    # Cloud GPUs are rented, not part of the local fleet.
    if scope == Scope.LOCAL:
        for reported in gpus:
            gpu = LocalGPU.objects.filter(uuid=reported.uuid).first() or LocalGPU(
                uuid=reported.uuid)
            gpu.model = reported.model
            gpu.vram_gb = reported.vram_gb
            gpu.cuda_version = reported.cuda_version
            gpu.host = name
            gpu.location = gpu.location or location
            gpu.simulated = reported.simulated
            if reported.performance_profile:
                gpu.performance_profile = reported.performance_profile
            if reported.compute_benchmark:
                gpu.compute_benchmark = dict(reported.compute_benchmark)
            gpu.agent = agent
            if gpu.status == GpuStatus.OFFLINE:
                gpu.status = GpuStatus.AVAILABLE
            gpu.full_clean()
            gpu.save()
    trail.record(trail.agent_actor(agent.id), "agent.registered", f"agent:{agent.id}",
                 name=name, scope=scope, gpus=[g.uuid for g in gpus])
    signals.agent_registered.send(sender=Agent, agent=agent, token=token)
    return Registration(agent=agent, credential=credential)


def returning_agent(token: EnrollmentToken, name: str, scope: Scope,
                    gpus: list[ReportedGpu]) -> Agent | None:
    """The agent this registration restarts: the one serving any of the
    reported local GPUs (a GPU's UUID is its identity), else the one of that
    name enrolled with the same token (a cloud instance's agent restarting)."""
    if scope == Scope.LOCAL and gpus:
        serving = Agent.objects.filter(scope=scope, gpus__uuid__in=[g.uuid for g in gpus])
        found = serving.order_by("-registered_at").first()
        if found is not None:
            return found
    return (Agent.objects.filter(scope=scope, name=name, enrolled_with=token)
            .order_by("-registered_at").first())


@transaction.atomic
def heartbeat(agent: Agent, samples: list[GpuSample]) -> None:
    """The agent is alive; keep its GPUs' telemetry (older agents send none)."""
    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(last_heartbeat=now)
    telemetry.record(agent, samples, now)


def set_status(gpu: LocalGPU, to: GpuStatus, actor: str) -> str:
    """Drain a GPU into maintenance, or return it to service; returns why not,
    or ''. Its agent learns it from its next heartbeat's answer."""
    current = GpuStatus(gpu.status)
    if current == GpuStatus.RETIRED:
        return f"GPU {gpu.id} is retired; register it again to use it"
    if to == GpuStatus.AVAILABLE and current != GpuStatus.MAINTENANCE:
        return ""  # in service already (or failed: its next healthy sample lifts that)
    if current == to:
        return ""
    LocalGPU.objects.filter(pk=gpu.pk).update(status=to)
    trail.record(actor, "gpu.drained" if to == GpuStatus.MAINTENANCE else "gpu.resumed",
                 f"gpu:{gpu.id}", status_before=current)
    return ""

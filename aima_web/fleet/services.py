"""Agents joining the fleet and reporting in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.routing import Scope, gpu_queue, queues_served
from aima_tasks.kernel.telemetry import GpuSample
from aima_web.audit import trail
from aima_web.fleet import health, signals, telemetry
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


class RegistrationRefused(PermissionError):
    """An agent may not register as it asked; the message says why."""


def create_enrollment_token(label: str, expires_at: datetime | None = None,
                            scope: Scope = Scope.LOCAL, max_uses: int = 1,
                            actor: str = trail.SYSTEM,
                            gpu_class: int | None = None) -> tuple[EnrollmentToken, str]:
    """A new token and its secret (shown once); without ``expires_at`` it works
    for AIMA_ENROLLMENT_TTL_S."""
    expires_at = expires_at or default_expiry()
    secret = new_secret()
    token = EnrollmentToken.objects.create(label=label, token_hash=digest(secret), scope=scope,
                                           max_uses=max_uses, expires_at=expires_at,
                                           gpu_class=gpu_class)
    trail.record(actor, "enrollment.created", f"enrollment:{token.id}", label=label,
                 scope=scope, max_uses=max_uses, expires_at=expires_at.isoformat())
    return token, secret


def revoke_token(token_id: int, actor: str) -> None:
    """The token works no more, and neither do the credentials of the agents
    that enrolled with it (an ended cloud instance, a host an admin cut off)."""
    revoked = EnrollmentToken.objects.filter(pk=token_id, revoked=False).update(revoked=True)
    agents = list(Agent.objects.filter(enrolled_with_id=token_id).values_list("pk", flat=True))
    for agent_id in agents:
        Agent.objects.filter(pk=agent_id).update(credential_hash=digest(new_secret()))
    if revoked or agents:
        trail.record(actor, "enrollment.revoked", f"enrollment:{token_id}", agents=agents)


def default_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.AIMA_ENROLLMENT_TTL_S)


@transaction.atomic
def enrol(token: EnrollmentToken, name: str, version: str, gpus: list[ReportedGpu],
          location: str = "") -> Registration:
    """A new agent joins with an enrollment token, which is used up by it; its
    scope is the token's. Raise RegistrationRefused for a spent token or a GPU
    another agent holds."""
    spent = EnrollmentToken.objects.filter(EnrollmentToken.usable_q(), pk=token.pk).update(
        uses=F("uses") + 1, last_used_at=timezone.now())
    if not spent:
        raise RegistrationRefused("the enrollment token is used up, expired or revoked; "
                                  "create one with `python manage.py aima_enroll`")
    credential = new_secret()
    agent = Agent.objects.create(name=name, scope=Scope(token.scope), enrolled_with=token,
                                 credential_hash=digest(credential))
    return _register(agent, credential, name, version, gpus, location)


@transaction.atomic
def reregister(agent: Agent, name: str, version: str, gpus: list[ReportedGpu],
               location: str = "") -> Registration:
    """An enrolled agent starting again, with its own credential: it keeps its
    identity and scope and gets a new credential (the old one dies with the
    process that held it)."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    return _register(agent, new_secret(), name, version, gpus, location)


def _register(agent: Agent, credential: str, name: str, version: str, gpus: list[ReportedGpu],
              location: str) -> Registration:
    scope = Scope(agent.scope)
    queues = sorted({q for gpu in gpus
                     for q in queues_served(scope, gpu.vram_gb, gpu.cuda_version)})
    token = agent.enrolled_with
    if token is not None and token.gpu_class is not None:
        queues = [q for q in queues if q == gpu_queue(scope, token.gpu_class)]
    Agent.objects.filter(pk=agent.pk).update(
        name=name, version=version, queues=queues, credential_hash=digest(credential),
        last_heartbeat=timezone.now())
    agent.refresh_from_db()
    # Cloud GPUs are rented, not part of the local fleet.
    if scope == Scope.LOCAL:
        for reported in gpus:
            _adopt(agent, reported, location)
    trail.record(trail.agent_actor(agent.id), "agent.registered", f"agent:{agent.id}",
                 name=name, scope=scope, gpus=[g.uuid for g in gpus],
                 enrollment=agent.enrolled_with_id)
    signals.agent_registered.send(sender=Agent, agent=agent, token=agent.enrolled_with)
    return Registration(agent=agent, credential=credential)


def _adopt(agent: Agent, reported: ReportedGpu, location: str) -> None:
    """The agent serves this GPU: a new one joins the fleet; one seen before keeps
    its row, and must be this agent's or have none (an admin released it)."""
    gpu = LocalGPU.objects.select_for_update().filter(uuid=reported.uuid).first()
    if gpu is None:
        gpu = LocalGPU(uuid=reported.uuid)
    elif gpu.agent_id not in (None, agent.pk):
        raise RegistrationRefused(
            f"GPU {reported.uuid} belongs to agent {gpu.agent_id}; an admin can release it "
            "(admin: Local GPUs, action 'Release from its agent') if this host now serves it")
    gpu.model = reported.model
    gpu.vram_gb = reported.vram_gb
    gpu.cuda_version = reported.cuda_version
    gpu.host = agent.name
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
    try:
        with transaction.atomic():
            gpu.save()
    except IntegrityError:
        # Another agent registered the same new GPU a moment ago.
        raise RegistrationRefused(f"GPU {reported.uuid} was just registered by another "
                                  "agent") from None


def release(gpu: LocalGPU, actor: str) -> None:
    """An admin says the GPU no longer belongs to its agent (a host reinstalled,
    a card moved): the next agent that reports it may register it."""
    if gpu.agent_id is None:
        return
    LocalGPU.objects.filter(pk=gpu.pk).update(agent=None)
    trail.record(actor, "gpu.released", f"gpu:{gpu.id}", agent=gpu.agent_id)


@transaction.atomic
def heartbeat(agent: Agent, samples: list[GpuSample]) -> None:
    """The agent is alive; keep its GPUs' telemetry (older agents send none)."""
    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(last_heartbeat=now)
    health.back(agent)
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

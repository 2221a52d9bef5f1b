"""Whose work is whose: tickets for the units the control plane sends out, and
the record of which agent holds each unit (``Assignment``).

Everything an agent asks about a job is checked here against what the control
plane itself assigned; nothing the agent claims (its scope, a GPU, a job id) is
taken on trust.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from aima_tasks.kernel.classification import Confidentiality
from aima_tasks.kernel.routing import Scope
from aima_tasks.kernel.work import AnalysisWork
from aima_web.audit import trail
from aima_web.fleet.models import Agent, Assignment, LocalGPU

TICKET_SALT = "aima.work-ticket"


class NotAssigned(PermissionError):
    """The agent asked for work the control plane did not give it."""


@dataclass(frozen=True)
class Unit:
    """One message's worth of a job, as the control plane cut it."""

    job_id: str
    segment: int
    analyses: tuple[str, ...]

    @property
    def key(self) -> str:
        return ",".join(sorted(self.analyses))

    def ticket(self) -> str:
        """Proof that the control plane sent this unit: an HMAC under the
        server's secret key, so no agent can make one for another unit."""
        return salted_hmac(TICKET_SALT, f"{self.job_id}|{self.segment}|{self.key}",
                           algorithm="sha256").hexdigest()

    def admits(self, ticket: str) -> bool:
        return bool(ticket) and constant_time_compare(ticket, self.ticket())


def agents_gpu(agent: Agent, gpu_uuid: str) -> LocalGPU | None:
    """The local GPU the agent says it runs the work on, if it is one of its own.

    A cloud agent's GPUs are rented, not part of the local fleet: none."""
    if agent.scope != Scope.LOCAL or not gpu_uuid:
        return None
    gpu = LocalGPU.objects.filter(uuid=gpu_uuid, agent=agent).first()
    if gpu is None:
        raise NotAssigned(f"GPU {gpu_uuid} is not one of this agent's GPUs")
    return gpu


def check_eligible(job, agent: Agent) -> None:
    """The agent may serve the job at all: its scope and queues fit the placement."""
    if job.confidentiality == Confidentiality.CONFIDENTIAL and agent.scope != Scope.LOCAL:
        raise NotAssigned("confidential media is served to local agents only")
    placed = job.placement or {}
    queue = placed.get("queue")
    # A job failed over to another queue still has units waiting in the ones before.
    queues = {queue, *placed.get("earlier_queues", ())} - {None, ""}
    if not queues & set(agent.queues):
        raise NotAssigned(f"the job is placed on {queue or 'no queue'}, which this agent "
                          "does not serve")


def take(job, agent: Agent, unit: Unit, ticket: str, gpu_uuid: str) -> Assignment:
    """Make ``agent`` the holder of ``unit`` (call inside a transaction that has
    locked the job's row). Another agent presenting the unit's ticket takes it
    over only once its holder is lost (no heartbeat for AIMA_AGENT_OFFLINE_AFTER_S):
    a ticket proves the message was delivered once, not that it was not handed
    back by a host that kept the ticket."""
    if not unit.admits(ticket):
        raise NotAssigned("this unit of work was not sent to this agent: its ticket does "
                          "not match")
    check_eligible(job, agent)
    gpu = agents_gpu(agent, gpu_uuid)
    now = timezone.now()
    held, created = Assignment.objects.select_for_update().get_or_create(
        job=job, segment=unit.segment, unit=unit.key,
        defaults={"agent": agent, "gpu": gpu, "assigned_at": now})
    if created:
        return held
    if held.agent_id != agent.pk:
        if held.agent is not None and held.agent.online:
            raise NotAssigned(f"agent {held.agent_id} holds this unit and is online; it "
                              "passes to another agent once that one is lost")
        trail.record(trail.agent_actor(agent.pk), "job.unit_taken_over", job.subject,
                     segment=unit.segment, analyses=list(unit.analyses),
                     from_agent=held.agent_id)
    held.agent, held.gpu, held.assigned_at = agent, gpu, now
    held.save(update_fields=["agent", "gpu", "assigned_at"])
    return held


def check_holder(job, agent: Agent, unit: Unit) -> Assignment:
    """The agent holds the unit now (call with the job's row locked)."""
    held = Assignment.objects.filter(job=job, segment=unit.segment, unit=unit.key).first()
    if held is None or held.agent_id != agent.pk:
        raise NotAssigned(f"segment {unit.segment} ({unit.key}) of this job is not assigned "
                          "to this agent")
    return held


def holds_any(job, agent: Agent) -> bool:
    return Assignment.objects.filter(job=job, agent=agent).exists()


def issue(units: Iterable[AnalysisWork]) -> list[AnalysisWork]:
    """The units of work with their tickets, ready to send."""
    return [replace(work, ticket=Unit(work.job_id, work.segment, work.analyses).ticket())
            for work in units]

"""A spot host's word that its provider takes it back (``agents/preemption.py``):
its agent's unfinished units are released at once for another host to take,
each on the trail with the work it lost, and the instance ends."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from aima_web.audit import trail
from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import Agent, Assignment
from aima_web.instances.launching import revoke_enrollment
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.states import BILLABLE, ERROR_CHARS, transition
from aima_web.jobs.services import wanted_parts
from aima_web.jobs.states import WORKING

# The trail action of a unit given back unfinished; counted on the job as rework.
HANDED_BACK = "job.unit_handed_back"


def preempted(agent: Agent, notice: Mapping[str, str]) -> list[dict]:
    """Release the units ``agent`` holds and has not finished (the broker gives
    their messages to the next host; its ticket takes them over at once, not
    after the agent is lost), and end its instance. Returns the units released."""
    why = f"spot preemption notice: {notice.get('action', 'terminate')} at " \
          f"{notice.get('time') or 'an unknown time'}"
    released = release_units(agent, why)
    instance = CloudInstance.objects.filter(agent=agent).first()
    if instance is None:
        return released
    # It takes, fetches and reports nothing more: its units are another host's now.
    revoke_enrollment(instance)
    # Terminating: the tick ends it at the provider (before the provider does) and bills it.
    if transition(instance.pk, InstanceState.TERMINATING, BILLABLE, error=why[:ERROR_CHARS]):
        trail.record(trail.agent_actor(agent.pk), "instance.preempted",
                     f"instance:{instance.pk}", notice=dict(notice), handed_back=len(released))
    return released


def release_units(agent: Agent, why: str, actor: str | None = None) -> list[dict]:
    """Release the units ``agent`` holds and has not finished, each on the
    trail with the work it lost, and take the agent for lost: its host goes
    away (preempted, paused) and the next host's ticket takes them over at once."""
    now = timezone.now()
    released = []
    with transaction.atomic():
        for held in Assignment.objects.select_for_update().filter(agent=agent).select_related(
                "job"):
            analyses = held.unit.split(",")
            if held.job.state not in WORKING or not wanted_parts(held.job, held.segment,
                                                                 analyses):
                continue
            held.agent = None
            held.save(update_fields=["agent"])
            unit = {"job_id": str(held.job_id), "segment": held.segment, "analyses": analyses,
                    "seconds_lost": round((now - held.assigned_at).total_seconds(), 1)}
            trail.record(actor or trail.agent_actor(agent.pk), HANDED_BACK, held.job.subject,
                         **{k: v for k, v in unit.items() if k != "job_id"}, why=why)
            released.append(unit)
        # Lost from now on: no unit it might still take stays its to hold.
        Agent.objects.filter(pk=agent.pk).update(last_heartbeat=None)
    return released


def rework(job_subject: str) -> dict[str, float]:
    """The work of a job that hosts handed back unfinished and others redid."""
    lost = [event.detail.get("seconds_lost", 0.0) for event in AuditEvent.objects.filter(
        action=HANDED_BACK, subject=job_subject).only("detail")]
    return {"units_handed_back": len(lost), "seconds_lost": round(sum(lost), 1)}

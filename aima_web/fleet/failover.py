"""Moving a job's units off a GPU that cannot finish them: its agent was
declared lost (no heartbeat for AIMA_AGENT_OFFLINE_AFTER_S), or the GPU failed
for good or critically (``aima_tasks.kernel.gpu_health``).

The units' assignments are released, so that a late result from the old
holder (an agent that wakes up) is refused by ``assignments.check_holder``;
placement is decided again without that GPU (it is offline, failed or in
maintenance by then); and the units are sent again. Non-confidential work
may go to the cloud when no local GPU can take it in time, as the engine
decides; confidential work stays on its local queue and waits for a GPU
there, however long. The job keeps its state: it runs, elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from django.db import DatabaseError, transaction
from django.db.models import Q

from aima_tasks.kernel.classification import Confidentiality
from aima_tasks.kernel.placement import Code
from aima_tasks.kernel.routing import Scope, message_priority
from aima_web.audit import trail
from aima_web.fleet import assignments
from aima_web.fleet.models import Assignment
from aima_web.jobs import pipeline
from aima_web.jobs import services as jobs
from aima_web.jobs.models import Job
from aima_web.jobs.states import WORKING, JobState
from aima_web.jobs.sweeper import BROKER_FAULTS
from aima_web.placement import services as placement

log = logging.getLogger(__name__)

T = TypeVar("T")


def move(stranded: Q, why: str) -> int:
    """Send the units whose assignments match ``stranded`` to another GPU, a
    job at a time; return how many units were sent again."""
    job_ids = {str(pk) for pk in Assignment.objects.filter(stranded, job__state__in=WORKING)
               .values_list("job_id", flat=True)}
    return sum(_each(sorted(job_ids), lambda job_id: move_job(job_id, stranded, why)))


def place_all_again(job_ids: Iterable[str], why: str) -> int:
    """:func:`place_queued_again` for each job; return how many were placed again."""
    return sum(_each(job_ids, lambda job_id: int(place_queued_again(job_id, why))))


def _each(items: Iterable[T], act: Callable[[T], int]) -> Iterator[int]:
    for item in items:
        try:
            yield act(item)
        except (DatabaseError, *BROKER_FAULTS):
            # A broker or database fault rolled this job back; the others go on,
            # and the next round tries it again.
            log.exception("moving %s failed; trying again next round", item)


def move_job(job_id: str, stranded: Q, why: str) -> int:
    """One job's stranded units: released, placed again and sent, all in one
    transaction with the job's row locked (and ``stranded`` read under it: an
    agent that beat meanwhile keeps its units). A failed send rolls it back:
    the units stay held by the lost holder and the next sweep tries again."""
    with transaction.atomic():
        job = (Job.objects.select_for_update(of=("self",)).select_related("media")
               .filter(pk=job_id, state__in=WORKING).first())
        if job is None:
            return 0
        held = list(Assignment.objects.filter(stranded, job=job).select_related("gpu"))
        keys = {(a.segment, a.unit) for a in held
                if jobs.wanted_parts(job, a.segment, a.unit.split(","))}
        units = [u for u in jobs.units_of(job)
                 if (u.segment, assignments.Unit(u.job_id, u.segment, u.analyses).key) in keys]
        Assignment.objects.filter(pk__in=[a.pk for a in held]).delete()
        if not units:
            return 0
        before = dict(job.placement or {})
        after = replace_placement(job, before, sorted({n for u in units for n in u.analyses}))
        Job.objects.filter(pk=job.pk).update(placement=after, agent=None, gpu=None)
        trail.record(trail.SYSTEM, "job.failed_over", job.subject, reason=why,
                     units=[[u.segment, list(u.analyses)] for u in units],
                     **{"from": _where(before, held), "to": _where(after)})
        pipeline.dispatch(units, after["queue"],
                          message_priority(job.priority, job.urgency))
    log.warning("job %s: %d unit(s) moved from %s to %s (%s)", job_id, len(units),
                before.get("queue"), after["queue"], why)
    if after.get("scope") == Scope.CLOUD:
        pipeline.provision()  # rent a GPU for it now rather than at the next tick
    return len(units)


def place_queued_again(job_id: str, why: str) -> bool:
    """A job queued for a GPU that left service and not started anywhere:
    placed again, so that it waits for a GPU that will take it (and counts in
    that GPU's backlog). Its units are sent again only when the new place is
    another queue; those in the old one stay allowed, and whichever copy is
    taken first holds the unit. Return whether the job was placed again."""
    with transaction.atomic():
        job = (Job.objects.select_for_update(of=("self",)).select_related("media")
               .filter(pk=job_id, state=JobState.QUEUED, dispatched_at__isnull=False).first())
        if job is None:
            return False
        before = dict(job.placement or {})
        after = replace_placement(job, before, list(job.analyses))
        if after.get("waiting"):
            return False  # nowhere better: it waits where it is
        resend = after["queue"] != before.get("queue")
        Job.objects.filter(pk=job.pk).update(placement=after)
        units = jobs.units_of(job) if resend else []
        trail.record(trail.SYSTEM, "job.failed_over", job.subject, reason=why, resent=resend,
                     **{"from": _where(before), "to": _where(after)})
        if resend:
            pipeline.dispatch(units, after["queue"],
                              message_priority(job.priority, job.urgency))
    log.warning("job %s, queued: placed again from %s to %s (%s)", job_id,
                _where(before), _where(after), why)
    if resend and after.get("scope") == Scope.CLOUD:
        pipeline.provision()
    return True


def replace_placement(job: Job, before: dict[str, Any], analyses: list[str]) -> dict[str, Any]:
    """The job's placement decided again for the analyses left; the queue it
    had stays allowed (its units not yet taken are still there), and stays the
    queue when the engine has nowhere better, or when the job is confidential
    and the engine would not keep it local."""
    models = jobs.model_choices(str(job.id), analyses)
    spec = placement.job_spec(job, analyses, model_vram_gb=jobs.model_vram_gb(models))
    decision = placement.decide_for(spec)
    earlier = sorted({*before.get("earlier_queues", ()), before.get("queue") or ""} - {""})
    # Waiting for an offline GPU is no better than waiting where it is.
    stays = (not decision.placed or decision.code == Code.GPU_OFFLINE_QUEUED
             or (job.confidentiality == Confidentiality.CONFIDENTIAL
                 and decision.scope != Scope.LOCAL))
    if stays:
        waiting = {**before, "waiting": decision.reason or "no GPU can take it now"}
        return {**waiting, "earlier_queues": earlier}
    return {**decision.to_dict(), "earlier_queues": earlier}


def _where(placed: dict[str, Any], held: list[Assignment] | None = None) -> dict[str, Any]:
    choice = placed.get("choice") or {}
    where = {"queue": placed.get("queue"), "scope": placed.get("scope"),
             "gpu_id": choice.get("gpu_id")}
    if held is not None:
        where["gpu_ids"] = sorted({a.gpu_id for a in held if a.gpu_id is not None})
        where["agent_ids"] = sorted({a.agent_id for a in held if a.agent_id is not None})
    return where

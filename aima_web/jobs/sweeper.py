"""The sweeper: jobs whose state has not moved for longer than it should are driven
on, or failed with the reason when they cannot go on.

A control step lost to a fault (a database error that outlasted its retries, a
message the broker dropped, a worker killed between two commits) leaves its job
where it was. The beat runs :func:`sweep` every ``AIMA_SWEEP_S``; it sends the
stuck step again:

- received or probing: the probe → place chain;
- placing: place;
- queued (or running) with its units not all sent (``Job.dispatched_at`` empty):
  the units, through the outbox (aima_web.jobs.outbox).

Sending again is harmless: each step re-reads the job and carries on from its
state (``services.enter``). A job is nudged at most once per stale age (its
``updated_at`` is touched), under its row lock taken with ``skip_locked``, so two
sweepers never nudge it twice. Every nudge is audited (``job.swept``) and logged.
Each round also abandons resumable uploads past their expiry (aima_web.uploads), and
releases the jobs held for off-peak hours whose hour has come (aima_web.jobs.deferral):
a held job is one the beat must drive on in time, as a stuck one is.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from aima_web.audit import trail
from aima_web.jobs import deferral, outbox, pipeline, services, storage
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.uploads import services as uploads

log = logging.getLogger(__name__)

BROKER_FAULTS = (BrokerError, ConnectionError, TimeoutError)
# Jobs looked at per state and round: a backlog is worked off over a few rounds.
BATCH = 200


@dataclass(frozen=True)
class Rule:
    state: JobState
    # The settings name of how long a job may sit in ``state`` before it is nudged.
    stale_setting: str
    did: str
    nudge: Callable[[Job], object]
    unsent_only: bool = False

    def stale_after(self) -> timedelta:
        return timedelta(seconds=getattr(settings, self.stale_setting))


RULES = (
    Rule(JobState.RECEIVED, "AIMA_STALE_RECEIVED_S", "probe and place sent again",
         lambda job: pipeline.start(str(job.id))),
    Rule(JobState.PROBING, "AIMA_STALE_PROBING_S", "probe and place sent again",
         lambda job: pipeline.start(str(job.id))),
    Rule(JobState.PLACING, "AIMA_STALE_PLACING_S", "place sent again",
         lambda job: pipeline.place(str(job.id))),
    Rule(JobState.QUEUED, "AIMA_STALE_UNSENT_S", "units sent",
         lambda job: outbox.send(str(job.id)), unsent_only=True),
    # Publishing broke off after some units, and an agent took one of them.
    Rule(JobState.RUNNING, "AIMA_STALE_UNSENT_S", "units sent",
         lambda job: outbox.send(str(job.id)), unsent_only=True),
)


def sweep(now: datetime | None = None) -> Counter[str]:
    """One round over every rule; returns how many jobs each nudge (or failing) took."""
    now = now or timezone.now()
    done: Counter[str] = Counter()
    try:
        if released := deferral.release_due(now):
            done["deferred released"] = released
        for rule in RULES:
            for job_id in stale(rule, now):
                done[handle(rule, job_id, now)] += 1
    except BROKER_FAULTS as exc:
        # Nothing can be sent now; the next round tries again.
        log.warning("sweep stopped: the broker is unreachable (%s)", exc)
    done.pop("", None)
    if expired := uploads.expire(now):  # resumable uploads nobody finished
        done["uploads expired"] = expired
    return done


def candidates(rule: Rule, cutoff: datetime):
    found = Job.objects.filter(state=rule.state, updated_at__lt=cutoff)
    return found.filter(dispatched_at__isnull=True) if rule.unsent_only else found


def stale(rule: Rule, now: datetime) -> list[str]:
    found = candidates(rule, now - rule.stale_after()).order_by("updated_at")
    return [str(pk) for pk in found.values_list("pk", flat=True)[:BATCH]]


def handle(rule: Rule, job_id: str, now: datetime) -> str:
    """Nudge one job or fail it; '' when it moved on meanwhile or another sweeper
    holds it."""
    cutoff = now - rule.stale_after()
    with transaction.atomic():
        job = (candidates(rule, cutoff).select_for_update(skip_locked=True, of=("self",))
               .select_related("media").filter(pk=job_id).first())
        if job is None:
            return ""
        if reason := media_missing(job) or nudged(rule, job):
            services.fail(job_id, reason)
            log.warning("sweeper: job %s failed in %s: %s", job_id, rule.state, reason)
            return "failed"
        # The next nudge waits another stale age: no message storm while a slow
        # control queue is still working through the first.
        Job.objects.filter(pk=job.pk).update(updated_at=now)
        stuck_s = round((now - job.updated_at).total_seconds())
        trail.record(trail.SYSTEM, "job.swept", job.subject, state=rule.state.value,
                     did=rule.did, stuck_s=stuck_s)
    log.warning("sweeper: job %s stuck in %s for %s s: %s", job_id, rule.state, stuck_s,
                rule.did)
    return rule.did


def nudged(rule: Rule, job: Job) -> str:
    """Send the job's step again: '' when sent, else why it cannot be. A fault of the
    database or the broker is raised instead: the next round tries again."""
    try:
        rule.nudge(job)
    except (DatabaseError, *BROKER_FAULTS):
        raise
    except Exception as exc:  # a job that trips a bug must not stop every round
        log.exception("sweeper: %s for job %s failed", rule.did, job.pk)
        return f"stuck in {rule.state.value} and could not be driven on: {exc!r}"
    return ""


def media_missing(job: Job) -> str:
    """Why the job cannot go on for want of its media; '' when the file is there."""
    sha256 = job.media.sha256
    if job.media.deleted_at is None and storage.content_path(sha256).exists():
        return ""
    return f"the media file {sha256} is missing from storage"

"""A queued job's units, sent to its GPU queue: the state and the messages it implies
cannot diverge.

``Job.dispatched_at`` is a one-flag outbox. Entering ``queued`` clears it in the
same UPDATE; it is set only once every unit was published. A place task whose
publishing failed (a broker outage), or whose worker died in between, leaves the
job queued with the flag empty; a redelivered place, or the sweeper, derives the
units again from the stored job and sends them. Publishing holds the job's row
(``skip_locked``): two workers never send the same job at once.

A broker that took the units but whose commit of the flag then failed gets them
once more: harmless, as each unit's results are stored once (its ticket and the
stored parts decide, not the message). So does a job whose publishing broke off
after some units, one of which an agent has taken since: it is running, its flag
still empty, and its other units must go out all the same.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.routing import Scope, message_priority
from aima_web.jobs import pipeline, services
from aima_web.jobs.models import Job
from aima_web.jobs.states import WORKING

log = logging.getLogger(__name__)


def send(job_id: str) -> bool:
    """Publish the units of a queued (or running) job not all sent yet; return whether
    this call sent them (False: sent before, not working, or another worker is sending
    them now)."""
    with transaction.atomic():
        job = (Job.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("media")
               .filter(pk=job_id, state__in=WORKING, dispatched_at__isnull=True).first())
        if job is None:
            return False
        units = services.units_of(job)
        pipeline.dispatch(units, job.placement["queue"],
                          message_priority(job.priority, job.urgency))
        Job.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())
    log.info("job %s: %d units sent to %s", job_id, len(units), job.placement["queue"])
    if job.placement.get("scope") == Scope.CLOUD:
        # Rent a GPU for it now rather than at the next tick (which would, anyway).
        pipeline.provision()
    return True

"""A job's progress as the API shows it: the kernel's estimate fed with the job's
placement and the parts the control plane has stored."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from aima_tasks.kernel import progress
from aima_web.jobs.models import Job, SegmentResult
from aima_web.jobs.states import JobState


def of(job: Job, now: datetime | None = None) -> dict:
    """{fraction, done, total, eta_seconds, eta_at, unit} for ``job`` at ``now``.

    Each part's arrival (the row's created_at, the control plane's clock) marks when it
    was done, not the agent's own finished_at: the ETA is compared with this clock.
    Parts are stored once and kept while the job runs, so the done set only grows and
    the fraction never goes down (see aima_tasks/kernel/progress.py).
    """
    now = now or timezone.now()
    choice = (job.placement or {}).get("choice") or {}
    units = progress.plan(job.analyses, [tuple(span) for span in job.segments],
                          (job.media.metadata or {}).get("duration_s"), choice.get("runtime_s"))
    done = progress.first_finishes(
        SegmentResult.objects.filter(job=job).values_list("analysis", "index", "created_at"))
    state = progress.estimate(units, done, job.running_at, now)
    shown = state.to_dict()
    if job.state == JobState.SUCCEEDED:
        shown.update(fraction=1.0, done=state.total, eta_seconds=0.0,
                     eta_at=job.finished_at.isoformat() if job.finished_at else None)
    elif job.state in (JobState.FAILED, JobState.CANCELLED):
        shown.update(eta_seconds=None, eta_at=None)
    return shown

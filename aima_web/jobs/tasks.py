"""Control-plane tasks on one job: probe and place, on the control queue. (A unit's
results come back from its agent over HTTPS: see aima_web.jobs.api.agent_views.)

Each takes a job id, re-reads the job, and may run twice without harm: the
broker redelivers a task whose worker died before acknowledging it. How a step
ends when it cannot go on is declared once, by :class:`JobStep`: its job fails,
with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.conf import settings
from django.utils import timezone

from aima_tasks.kernel.probe import NotMedia, probe
from aima_tasks.kernel.routing import Scope, TaskName
from aima_tasks.policy import task_options
from aima_web.celery import app
from aima_web.jobs import pipeline, services, storage
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState

log = logging.getLogger(__name__)

# The web process sends the first task before its transaction commits (so that
# a refused send leaves no job behind); the worker may look for the job a
# moment too early, and looks again every 0.1 s for up to 5 s.
UNCOMMITTED_RETRIES = 50
UNCOMMITTED_RETRY_S = 0.1


class MediaMissing(RuntimeError):
    """The stored media file of a job is gone."""


class JobStep(Task):
    """A control step on one job (the task's first argument is its id). Whatever
    it raises ends the job failed: an error in ``throws`` (the input cannot be
    done: not media, no way to place it) with its own message, any other (a bug,
    a soft time limit) as "<step> failed: …", logged with its traceback."""

    step = "this step"

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                   einfo: Any) -> None:
        job_id = args[0] if args else kwargs["job_id"]
        if isinstance(exc, self.throws):
            services.fail(job_id, str(exc))
            return
        log.error("%s job %s failed", self.step, job_id, exc_info=exc)
        services.fail(job_id, f"{self.step} failed: {exc}")


@app.task(**task_options(TaskName.PROBE), bind=True, base=JobStep, step="probing",
          throws=(NotMedia, MediaMissing), max_retries=UNCOMMITTED_RETRIES)
def probe_task(self: JobStep, job_id: str) -> None:
    job = Job.objects.select_related("media").filter(pk=job_id).first()
    if job is None:
        raise self.retry(countdown=UNCOMMITTED_RETRY_S)
    if not services.enter(job_id, JobState.PROBING):
        log.info("job %s is %s: not probing it", job_id, job.state)
        return
    asset = job.media
    if asset.probed_at is not None:
        return
    try:
        with storage.decrypted_copy(asset.sha256) as plaintext:
            result = probe(plaintext, settings.AIMA_MAX_PIXELS)
    except FileNotFoundError:
        raise MediaMissing(f"the media file {asset.sha256} is missing from storage") from None
    services.record_probe(asset, result, timezone.now())


@app.task(**task_options(TaskName.PLACE), base=JobStep, step="placement",
          throws=(services.SubmissionError,))
def place_task(job_id: str) -> None:
    # A job that failed or was cancelled while probing cannot enter placing.
    if not services.enter(job_id, JobState.PLACING):
        return
    job = Job.objects.select_related("media").get(pk=job_id)
    decision, units = services.place(job)
    if not units:
        services.fail(job_id, decision.reason)
        return
    if services.enter(job_id, JobState.QUEUED):
        pipeline.dispatch(units, decision.queue)
        if decision.scope == Scope.CLOUD:
            # Rent a GPU for it now rather than at the next tick.
            app.send_task(TaskName.PROVISION.value)

"""Control-plane tasks on one job: probe and place, on the control queue, and the
sweeper that drives on jobs stuck between them. (A unit's results come back from
its agent over HTTPS: see aima_web.jobs.api.agent_views.)

Each takes a job id, re-reads the job, and may run twice without harm: the
broker redelivers a task whose worker died before acknowledging it, and the
sweeper sends a step again when its job has not moved. How a step ends when it
cannot go on is declared once, by :class:`JobStep`: a fault of the database or
the broker is retried, then left to the sweeper; anything else fails its job,
with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from aima_tasks.kernel.placement import Code
from aima_tasks.kernel.probe import NotMedia, probe
from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.celery import app
from aima_web.jobs import outbox, services, storage, sweeper
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


# Faults of the database or the broker, not of the job: the step is tried again.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError, TimeoutError)


class JobStep(Task):
    """A control step on one job (the task's first argument is its id).

    A transient fault (``TRANSIENT``) sends the step again with exponential
    backoff, up to ``transient_retries`` times; after that the job is left where
    it is, for the sweeper (aima_web.jobs.sweeper), never failed: the fault is
    not the job's. Anything else it raises ends the job failed: an error in
    ``throws`` (the input cannot be done: not media, no way to place it) with its
    own message, any other (a bug, a soft time limit) as "<step> failed: …",
    logged with its traceback."""

    step = "this step"
    transient_retries = 8
    # Seconds: 1, 2, 4 … up to the cap, each drawn at random below (full jitter),
    # so that workers hit by one outage do not come back in step.
    backoff_cap_s = 30

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TRANSIENT as exc:
            drop_broken_connections()
            retries = self.request.retries
            if retries >= self.transient_retries:
                raise  # spent: on_failure leaves the job to the sweeper
            countdown = get_exponential_backoff_interval(
                factor=1, retries=retries, maximum=self.backoff_cap_s, full_jitter=True)
            log.warning("%s of job %s met a fault (%s: %s); retry %d of %d in %s s", self.step,
                        job_of(args, kwargs), type(exc).__name__, exc, retries + 1,
                        self.transient_retries, countdown)
            raise self.retry(exc=exc, countdown=countdown,
                             max_retries=self.transient_retries) from exc

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict,
                   einfo: Any) -> None:
        job_id = job_of(args, kwargs)
        if isinstance(exc, TRANSIENT):
            log.error("%s of job %s: still %s after %d tries; left to the sweeper", self.step,
                      job_id, type(exc).__name__, self.transient_retries + 1)
            return
        if isinstance(exc, self.throws):
            reason = str(exc)
        else:
            log.error("%s job %s failed", self.step, job_id, exc_info=exc)
            reason = f"{self.step} failed: {exc}"
        try:
            services.fail(job_id, reason)
        except DatabaseError:
            # Recording the failure is itself a database write: if that fails too,
            # the job stays where it is and the sweeper sends the step again.
            log.exception("could not fail job %s (%s); left to the sweeper", job_id, reason)


def job_of(args: tuple, kwargs: dict) -> str:
    return args[0] if args else kwargs["job_id"]


def drop_broken_connections() -> None:
    """Close database connections a fault left unusable, so that the next try
    opens a fresh one (the worker's Django fix-up does so only between tasks, and
    an eager retry runs at once)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


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
    # A job that failed or was cancelled while probing cannot enter placing. One
    # placed already (a redelivered place, or one the sweeper sent) goes straight
    # to the outbox, which sends its units if they are not all out yet.
    # Only a probed job enters placing here: a held one (deferred) waits for its
    # release, however often its place task is delivered again.
    if services.enter(job_id, JobState.PLACING, among=(JobState.PROBING,)):
        job = Job.objects.select_related("media").get(pk=job_id)
        decision = services.place(job)
        if decision.code == Code.DEFERRED_OFF_PEAK and not decision.placed:
            return  # held for off-peak hours: the sweeper's round releases it
        if not decision.placed:
            services.fail(job_id, decision.reason)
            return
        # Entering queued marks its units unsent, in the same UPDATE.
        services.enter(job_id, JobState.QUEUED, dispatched_at=None)
    outbox.send(job_id)


@app.task(**task_options(TaskName.SWEEP))
def sweep_task() -> None:
    sweeper.sweep()

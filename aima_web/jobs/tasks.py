"""Control-plane tasks: probe and place, on the control queue. (A unit's results
come back from its agent over HTTPS: see aima_web.jobs.api.agent_views.)

Each takes a job id, re-reads the job, and may run twice without harm: the
broker redelivers a task whose worker died before acknowledging it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from aima_tasks.kernel.probe import NotMedia, probe
from aima_tasks.kernel.routing import Scope, TaskName
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


@app.task(name=TaskName.PROBE.value, bind=True, max_retries=UNCOMMITTED_RETRIES)
def probe_task(self, job_id: str) -> None:
    job = Job.objects.select_related("media").filter(pk=job_id).first()
    if job is None:
        raise self.retry(countdown=UNCOMMITTED_RETRY_S)
    if not services.enter(job_id, JobState.PROBING):
        log.info("job %s is %s: not probing it", job_id, job.state)
        return
    asset = job.media
    if asset.probed_at is None:
        try:
            with storage.decrypted_copy(asset.sha256) as plaintext:
                result = probe(plaintext, settings.AIMA_MAX_PIXELS)
        except NotMedia as exc:
            services.fail(job_id, str(exc))
            return
        except FileNotFoundError:
            services.fail(job_id, f"the media file {asset.sha256} is missing from storage")
            return
        except Exception as exc:
            log.exception("probing job %s failed", job_id)
            services.fail(job_id, f"probing failed: {exc}")
            return
        services.record_probe(asset, result, timezone.now())


@app.task(name=TaskName.PLACE.value)
def place_task(job_id: str) -> None:
    # A job that failed or was cancelled while probing cannot enter placing.
    if not services.enter(job_id, JobState.PLACING):
        return
    job = Job.objects.select_related("media").get(pk=job_id)
    try:
        decision, units = services.place(job)
    except services.SubmissionError as exc:
        services.fail(job_id, str(exc))
        return
    except Exception as exc:
        # A job must never be left in "placing" with nothing working on it.
        log.exception("placing job %s failed", job_id)
        services.fail(job_id, f"placement failed: {exc}")
        return
    if not units:
        services.fail(job_id, decision.reason)
        return
    if services.enter(job_id, JobState.QUEUED):
        pipeline.dispatch(units, decision.queue)
        if decision.scope == Scope.CLOUD:
            # Rent a GPU for it now rather than at the next tick.
            app.send_task(TaskName.PROVISION.value)

"""A real control worker meeting a database fault: its step is sent again through
the broker, with backoff, and goes through once the fault is gone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from aima_web.celery import app
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from devtools.processes import Supervisor
from tests.job_faults import job_locked
from tests.placing import make_gpu
from tests.test_api_jobs import submit

# The worker process reads the rows this test commits.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def worker_database_url() -> str:
    """The test database, as DATABASE_URL names it for a process of its own."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = (db["USER"] or "") + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return (f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}")


def wait_for(done: Callable[[], bool], timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise AssertionError(f"{what} not within {timeout_s} s; the worker's log ends:\n"
                                 + "\n".join(text.splitlines()[-30:]))
        time.sleep(0.2)


def test_a_control_worker_sends_a_step_the_database_refused_again(api, image_file, settings,
                                                                  tmp_path):
    make_gpu()
    app.control.purge()  # nothing left by earlier tests may reach this worker
    job_id = submit(api, image_file.path).json()["id"]
    env = {**os.environ, "DATABASE_URL": worker_database_url(),
           "AIMA_MEDIA_ROOT": str(settings.AIMA_MEDIA_ROOT),
           # libpq: the worker gives up on a lock after 0.1 s, with PostgreSQL's own
           # error (SQLite's worker waits out its busy timeout instead).
           "PGOPTIONS": "-c lock_timeout=100"}
    supervisor = Supervisor(log_dir=tmp_path, env=env, log=lambda _: None)
    try:
        with job_locked(job_id):
            worker = supervisor.start_control_worker()
            log = worker.log_path
            if connection.vendor == "postgresql":
                wait_for(lambda: "met a fault" in log.read_text(errors="replace"), 90,
                         "a retried probe", log)
            else:
                time.sleep(5)
        wait_for(lambda: Job.objects.get(pk=job_id).state == JobState.QUEUED, 90,
                 "the job queued", log)
    finally:
        supervisor.stop_all()
    job = Job.objects.get(pk=job_id)
    assert job.dispatched_at is not None and not job.error
    assert "left to the sweeper" not in log.read_text(errors="replace")

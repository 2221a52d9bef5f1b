"""Control steps across database and broker faults: a transient fault is retried, one
that outlasts the retries leaves the job to the sweeper, a place whose units were
not published sends them once when delivered again, the sweeper drives on a job
stuck in each state (once, however many sweepers run), and an agent's results that
a database fault kept out are stored when it reports again.

The faults are real: a row lock another database client holds (waited on for 0.1 s),
a broker that refuses the connection (tests/job_faults.py)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.routing import CONTROL_QUEUE, TaskName
from aima_tasks.kernel.work import AnalysisWork
from aima_tasks.topology import route_task
from aima_web.audit.models import AuditEvent
from aima_web.celery import app, schedule_periodic_tasks
from aima_web.jobs import services, storage, sweeper
from aima_web.jobs.models import Job, SegmentResult
from aima_web.jobs.states import JobState
from aima_web.jobs.tasks import JobStep, place_task, probe_task
from tests.agent_api import as_agent, delivered, enroll, result_body, start_body, taken_off
from tests.job_faults import broker_unreachable, job_locked, short_lock_waits
from tests.placing import make_gpu, run_to_queue
from tests.test_api_jobs import submit

# Threads and a second database client need the rows committed, not in a test's
# transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def later() -> datetime:
    """A moment past every stale age: the sweeper takes every job that has not moved."""
    return timezone.now() + timedelta(hours=1)


def sent_for(job_id: str, queue: str = CONTROL_QUEUE) -> list[str]:
    return [task for task, args in taken_off(queue) if args == [job_id]]


def units_on(queue: str) -> Counter[tuple[str, int]]:
    """How often each unit (job, segment) waits on a GPU queue; taken off it."""
    return Counter((work.job_id, work.segment) for work in
                   (AnalysisWork.from_dict(args[0]) for _task, args in taken_off(queue)))


def tries(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "met a fault" in r.getMessage()]


def unsent_job(api, path) -> Job:
    """A job placed while the broker refused every message: queued, its units unsent."""
    job_id = submit(api, path).json()["id"]
    probe_task.apply(args=(job_id,))
    with broker_unreachable():
        place_task.apply(args=(job_id,))
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.dispatched_at) == (JobState.QUEUED, None)
    return job


def test_a_database_fault_is_retried_until_the_step_goes_through(api, image_file, caplog):
    job_id = submit(api, image_file.path).json()["id"]
    with short_lock_waits(), job_locked(job_id, for_s=0.3):
        probe_task.apply(args=(job_id,))
    job = Job.objects.select_related("media").get(pk=job_id)
    assert job.state == JobState.PROBING and job.media.probed_at is not None
    assert 1 <= len(tries(caplog)) < JobStep.transient_retries
    assert "OperationalError" in tries(caplog)[0]


def test_a_fault_outlasting_the_retries_leaves_the_job_to_the_sweeper(api, image_file, caplog,
                                                                      monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 2)
    job_id = submit(api, image_file.path).json()["id"]
    with short_lock_waits(), job_locked(job_id):
        probe_task.apply(args=(job_id,))
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.error) == (JobState.RECEIVED, "")
    assert len(tries(caplog)) == 2 and "left to the sweeper" in caplog.text
    # The chain the submission sent is lost, as in an outage: the sweeper sends it again.
    sent_for(job_id)
    assert sweeper.sweep(later()) == {"probe and place sent again": 1}
    assert sent_for(job_id) == [TaskName.PROBE.value]
    assert sweeper.sweep(later()) == {}  # once per stale age, not at every round
    event = AuditEvent.objects.get(action="job.swept", subject=f"job:{job_id}")
    assert event.detail["state"] == "received" and event.detail["stuck_s"] >= 3600
    make_gpu()
    assert run_to_queue(job_id).state == JobState.QUEUED


def test_a_failure_the_database_will_not_record_is_left_to_the_sweeper(api, image_file,
                                                                       caplog, monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 1)
    job_id = submit(api, image_file.path).json()["id"]
    assert services.enter(job_id, JobState.PROBING)
    sha256 = Job.objects.get(pk=job_id).media.sha256
    storage.discard(storage.content_path(sha256))
    with short_lock_waits(), job_locked(job_id):
        probe_task.apply(args=(job_id,))  # media missing: it would fail the job
    assert Job.objects.get(pk=job_id).state == JobState.PROBING
    assert "left to the sweeper" in caplog.text
    # The job cannot go on: the sweeper fails it, saying why.
    assert sweeper.sweep(later()) == {"failed": 1}
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.FAILED
    assert job.error == f"the media file {sha256} is missing from storage"


def test_a_place_whose_units_were_not_sent_sends_them_once_when_delivered_again(
        api, video_file, settings, monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 1)
    settings.AIMA_SEGMENT_S = 1.0
    make_gpu()
    job = unsent_job(api, video_file.path)
    queue = job.placement["queue"]
    assert units_on(queue)[(str(job.id), 0)] == 0
    place_task.apply(args=(str(job.id),))  # the broker delivers place again
    place_task.apply(args=(str(job.id),))  # and again
    expected = services.units_of(Job.objects.select_related("media").get(pk=job.id))
    assert len(expected) == 5
    assert units_on(queue) == Counter((str(job.id), u.segment) for u in expected)
    assert Job.objects.get(pk=job.id).dispatched_at is not None
    assert sweeper.sweep(later()) == {}


@pytest.mark.parametrize("state, sent", [
    (JobState.RECEIVED, [TaskName.PROBE.value]),
    (JobState.PROBING, [TaskName.PROBE.value]),
    (JobState.PLACING, [TaskName.PLACE.value]),
])
def test_the_sweeper_sends_the_step_of_a_job_stuck_before_its_queue(api, image_file, state,
                                                                   sent):
    make_gpu()
    job_id = submit(api, image_file.path).json()["id"]
    if state != JobState.RECEIVED:
        probe_task.apply(args=(job_id,))  # leaves it probing
    if state == JobState.PLACING:
        assert services.enter(job_id, JobState.PLACING)  # and place died in there
    sent_for(job_id)
    assert sum(sweeper.sweep(later()).values()) == 1
    assert sent_for(job_id) == sent
    # What the sweeper sent, run as the control worker would run it:
    job = run_to_queue(job_id)
    assert job.state == JobState.QUEUED and job.dispatched_at is not None
    assert len(delivered(job_id, job.placement["queue"])) == 1


def test_units_cut_off_by_a_failed_publish_go_out_once_an_agent_runs_the_first(
        api, video_file, settings, monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 0)
    settings.AIMA_SEGMENT_S = 1.0
    credential = enroll().json()["credential"]
    job = unsent_job(api, video_file.path)
    # The first unit had gone out before the broker broke off, and an agent took it.
    first, *rest = services.units_of(Job.objects.select_related("media").get(pk=job.id))
    taken = as_agent(credential).post(f"/api/v1/agent-jobs/{job.id}/start/",
                                      start_body(first, "GPU-1234"), format="json")
    assert taken.status_code == 200
    job.refresh_from_db()
    assert (job.state, job.dispatched_at) == (JobState.RUNNING, None)
    queue = job.placement["queue"]
    taken_off(queue)
    assert sweeper.sweep(later()) == {"units sent": 1}
    # Every unit again: the one running passes only to the agent that holds it, and
    # each part's results are stored once.
    assert units_on(queue) == Counter((str(job.id), u.segment) for u in [first, *rest])
    assert sweeper.sweep(later() + timedelta(hours=1)) == {}


def test_a_stuck_job_the_sweeper_cannot_drive_on_fails_saying_why(api, image_file,
                                                                  monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 0)
    make_gpu()
    job = unsent_job(api, image_file.path)
    # Its analysis was uninstalled since: its units cannot be made any more.
    Job.objects.filter(pk=job.pk).update(analyses=["uninstalled"])
    assert sweeper.sweep(later()) == {"failed": 1}
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "stuck in queued and could not be driven on: KeyError('uninstalled')"


def test_two_sweepers_at_once_send_each_stuck_job_once(api, image_file, monkeypatch):
    monkeypatch.setattr(JobStep, "transient_retries", 0)
    make_gpu()
    jobs = [unsent_job(api, image_file.path) for _ in range(4)]
    queue = jobs[0].placement["queue"]
    taken_off(queue)
    now, start, rounds = later(), threading.Barrier(2), []

    def sweep() -> None:
        try:
            start.wait()
            rounds.append(sweeper.sweep(now))
        finally:
            connections.close_all()  # each thread's own database connection

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(rounds, Counter()) == {"units sent": 4}
    assert units_on(queue) == Counter({(str(job.id), 0): 1 for job in jobs})
    assert Job.objects.filter(dispatched_at__isnull=True).count() == 0


def test_results_a_database_fault_kept_out_are_stored_when_the_agent_reports_again(
        api, image_file):
    credential = enroll().json()["credential"]
    job_id = submit(api, image_file.path).json()["id"]
    job = run_to_queue(job_id)
    [work] = delivered(job_id, job.placement["queue"])
    agent = as_agent(credential)
    url = f"/api/v1/agent-jobs/{job_id}/"
    assert agent.post(url + "start/", start_body(work, "GPU-1234"), format="json").status_code \
        == 200
    with short_lock_waits(), job_locked(job_id):
        refused = agent.post(url + "results/", result_body(work), format="json")
    assert refused.status_code == 503 and int(refused["Retry-After"]) > 0
    assert not SegmentResult.objects.filter(job_id=job_id).exists()
    assert Job.objects.get(pk=job_id).state == JobState.RUNNING
    # The agent's worker answers a 503 by reporting again (agents/worker.py, patiently).
    again = agent.post(url + "results/", result_body(work), format="json")
    assert again.status_code == 200 and again.json() == {"state": "succeeded"}
    assert SegmentResult.objects.filter(job_id=job_id).count() == len(work.analyses)


def test_a_job_with_no_analysis_to_run_fails_at_placement(api, image_file, monkeypatch):
    specs = catalogue().specs
    for name, spec in list(specs.items()):
        monkeypatch.setitem(specs, name, replace(spec, default_on=False))
    make_gpu()
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.state == JobState.FAILED
    assert job.error == "no analysis runs on this image by default; name the analyses to run"


def test_the_beat_sweeps_at_the_configured_interval_on_the_control_queue(settings):
    settings.AIMA_SWEEP_S = 7
    schedule_periodic_tasks(app)
    assert app.conf.beat_schedule["jobs-sweep"] == {"task": TaskName.SWEEP.value,
                                                    "schedule": 7.0}
    assert route_task(TaskName.SWEEP.value, (), {}, {}) == {"queue": CONTROL_QUEUE}

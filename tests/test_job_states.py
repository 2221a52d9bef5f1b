"""The job state machine and the services the control tasks use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus, ResultItem
from aima_web.jobs import services
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.jobs.states import SOURCES, JobState

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(alice) -> Job:
    asset = MediaAsset.objects.create(sha256="ab" * 32, size_bytes=10, media_type="audio")
    return Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                              analyses=["loudness"])


def walk(job: Job, *states: JobState) -> None:
    for state in states:
        assert Job.objects.transition(job.id, state), state


def test_the_happy_path_stamps_every_state(job):
    walk(job, JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING,
         JobState.SUCCEEDED)
    job.refresh_from_db()
    stamps = [job.created_at, job.probing_at, job.placing_at, job.queued_at, job.running_at,
              job.finished_at]
    assert all(stamps) and stamps == sorted(stamps)


@pytest.mark.parametrize("state", [JobState.PLACING, JobState.RUNNING, JobState.SUCCEEDED])
def test_no_skipping_states(job, state):
    assert not Job.objects.transition(job.id, state)
    job.refresh_from_db()
    assert job.state == JobState.RECEIVED


def test_nothing_leaves_a_terminal_state(job):
    walk(job, JobState.CANCELLED)
    for state in SOURCES:
        assert not Job.objects.transition(job.id, state)


def test_enter_tolerates_a_redelivered_task(job):
    assert services.enter(str(job.id), JobState.PROBING)
    assert services.enter(str(job.id), JobState.PROBING)  # the same task, delivered again
    assert not services.enter(str(job.id), JobState.RUNNING)


def outcome(job: Job, errors: tuple[str, ...] = ()) -> AnalysisOutcome:
    now = datetime.now(UTC).isoformat()
    return AnalysisOutcome(job_id=str(job.id), status=OutcomeStatus.DONE, agent_id=None,
                           results=(ResultItem("loudness", {"integrated_lufs": -20.0}, now, now),),
                           errors=errors)


def test_finishing_twice_writes_each_result_once(job):
    walk(job, JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING)
    assert services.finish(outcome(job)) == JobState.SUCCEEDED
    assert services.finish(outcome(job)) is None  # a redelivered finalize
    assert AnalysisResult.objects.filter(job=job).count() == 1


def test_errors_fail_the_job_and_keep_the_results_that_worked(job):
    walk(job, JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING)
    assert services.finish(outcome(job, errors=("silence: broken",))) == JobState.FAILED
    job.refresh_from_db()
    assert job.error == "silence: broken"
    assert job.results.get().analysis == "loudness"


def test_results_of_a_cancelled_job_are_dropped(job):
    walk(job, JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING,
         JobState.CANCELLED)
    assert services.finish(outcome(job)) is None
    assert not AnalysisResult.objects.exists()

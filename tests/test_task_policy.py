"""Task hygiene: every task has soft and hard time limits from one table, and a
control step that cannot go on fails its job, saying why, instead of leaving it
where it stopped."""

from __future__ import annotations

from dataclasses import replace

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.routing import TaskName
from aima_tasks.kernel.work import AnalysisWork
from aima_tasks.policy import LIMITS, Limits
from aima_web.celery import app as control_app
from aima_web.jobs import storage
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState
from aima_web.jobs.tasks import place_task, probe_task
from tests.placing import make_gpu
from tests.test_api_jobs import submit


def registered() -> dict[str, object]:
    from agents.worker import app as agent_app

    control_app.loader.import_default_modules()  # autodiscovery: each app's tasks.py
    tasks = {name: task for name, task in control_app.tasks.items() if name.startswith("aima.")}
    tasks[TaskName.ANALYSE.value] = agent_app.tasks[TaskName.ANALYSE.value]
    return tasks


def test_every_task_is_registered_with_the_limits_of_its_name() -> None:
    tasks = registered()
    assert set(tasks) == {name.value for name in TaskName}
    for name, task in tasks.items():
        limits = LIMITS[TaskName(name)]
        assert (task.soft_time_limit, task.time_limit) == (limits.soft_s, limits.hard_s), name


def test_a_soft_limit_must_come_before_the_hard_one() -> None:
    with pytest.raises(ValueError, match="soft < hard"):
        Limits(60, 60)


@pytest.mark.django_db
def test_media_gone_from_storage_fails_the_job_naming_the_file(api, image_file) -> None:
    job_id = submit(api, image_file.path).json()["id"]
    sha256 = Job.objects.get(pk=job_id).media.sha256
    storage.discard(storage.content_path(sha256))
    probe_task.apply(args=(job_id,))
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.FAILED
    assert job.error == f"the media file {sha256} is missing from storage"


@pytest.mark.django_db
def test_an_unexpected_error_in_a_step_fails_the_job_with_the_steps_name(api, image_file):
    make_gpu()
    job_id = submit(api, image_file.path).json()["id"]
    probe_task.apply(args=(job_id,))
    # A row no probe could write: placement meets a bug's worth of surprise and must
    # still not leave the job in "placing".
    MediaAsset.objects.filter(jobs=job_id).update(media_type="hologram")
    place_task.apply(args=(job_id,))
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.FAILED
    assert job.error.startswith("placement failed: ") and "hologram" in job.error


def out_of_time(path, ctx):
    """A runner still busy when Celery's soft time limit fires inside it."""
    raise SoftTimeLimitExceeded()


def test_an_agent_out_of_time_reports_what_it_finished_and_names_the_rest(
        monkeypatch, image_file) -> None:
    from agents.adaptive import GpuFacts
    from agents.worker import run_analyses

    specs = catalogue().specs
    monkeypatch.setitem(specs, "slow", replace(specs["phash"], name="slow",
                                               runner=f"{__name__}:out_of_time"))
    work = AnalysisWork(job_id="j", sha256="s", size_bytes=1, media_type="image",
                        analyses=("phash", "slow", "colours"), confidentiality="internal")
    results, errors = run_analyses(work, image_file.path, GpuFacts(vram_gb=24, device="cpu"),
                                   None)
    assert [r.analysis for r in results] == ["phash"]
    assert errors == ["slow: not finished within the unit's time limit",
                      "colours: not finished within the unit's time limit"]

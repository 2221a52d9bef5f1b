"""Partial execution through the real pipeline steps: an image job asks for a
person detector whose smallest model needs 40 GB beside a perceptual hash; the
fleet has a 24 GB GPU and the cloud none bigger. The job runs the hash, names
the skipped detector and why in its decision record, its API and its report,
and succeeds with the hash's result."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus, ResultItem
from aima_web.jobs import services as jobs
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.registry.models import ModelArtifact
from tests.placing import make_gpu, run_to_queue
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db


def test_a_job_whose_heavy_analysis_no_gpu_holds_succeeds_partial(api, admin_client, image_file):
    ModelArtifact.objects.create(name="yolo-x", version="1", task="person-detection",
                                 sha256="ab" * 32, size_bytes=1, filename="x.onnx",
                                 min_vram_gb=40, status="active")
    make_gpu()  # 24 GB
    job_id = submit(api, image_file.path, analyses="objects,phash").json()["id"]
    job = run_to_queue(job_id)
    assert job.state == JobState.QUEUED
    assert job.analyses == ["phash"]
    [skipped] = job.placement["skipped"]
    assert skipped["analysis"] == "objects" and "needs 40 GB VRAM" in skipped["why"]
    assert "partial" in job.placement["reasons"] and job.placement["queue"] == "gpu.local.16"
    [unit] = jobs.units_of(job)
    assert unit.analyses == ("phash",) and "objects" not in unit.models

    body = api.get(f"/api/v1/jobs/{job_id}/").json()
    assert body["placement"]["skipped"] == [skipped]
    report = api.get(f"/api/v1/jobs/{job_id}/report/").json()
    assert report["job"]["skipped"] == [skipped]
    admin = admin_client.get(f"/admin/jobs/job/{job_id}/change/").content.decode()
    assert "partial: runs without" in admin and "objects (objects needs 40 GB VRAM" in admin

    # The hash's result is all the job waits for.
    assert Job.objects.transition(job_id, JobState.RUNNING)
    at = timezone.now().isoformat()
    outcome = AnalysisOutcome(job_id=job_id, status=OutcomeStatus.DONE, results=(
        ResultItem("phash", {"phash": "0" * 16}, at, at, meta={"device": "cpu"}),))
    assert jobs.finish(outcome) == JobState.SUCCEEDED
    page = api.get(f"/api/v1/jobs/{job_id}/report/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert "Partial: run without objects (objects needs 40 GB VRAM" in page.content.decode()

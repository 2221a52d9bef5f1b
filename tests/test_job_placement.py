"""Real jobs through probe and place: the stored decision, the admin's view of
it, cloud placement against stored offers, and the fleet's backlog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.html import escape

from aima_tasks.kernel.classification import Urgency
from aima_tasks.kernel.placement.performance import normalise
from aima_web.instances import billing
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs import services as jobs
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.jobs.states import JobState
from aima_web.jobs.tasks import probe_task
from aima_web.placement import services
from aima_web.registry.models import ModelArtifact
from tests.placing import make_gpu, run_to_queue, write_prices
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers(tmp_path):
    call_command("aima_offers", "load", str(write_prices(tmp_path)), stdout=None)


def test_a_submitted_job_carries_the_whole_decision(api, admin_client, video_file):
    gpu = make_gpu()
    job_id = submit(api, video_file.path).json()["id"]
    job = run_to_queue(job_id)
    assert job.state == JobState.QUEUED
    body = api.get(f"/api/v1/jobs/{job_id}/").json()
    placement = body["placement"]
    assert set(placement) >= {"placed", "code", "reason", "strategy", "scope", "queue",
                              "choice", "reasons", "alternatives", "excluded", "suggestions"}
    assert placement["queue"] == "gpu.local.24"
    assert placement["choice"]["gpu_id"] == gpu.id
    assert placement["choice"]["runtime_s"] > 0
    assert placement["code"] == "no_cloud_fit"
    page = admin_client.get(f"/admin/jobs/job/{job_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert escape(placement["reason"]) in html
    assert "gpu.local.24" in html and "no_cloud_fit" in html


def test_region_and_priority_are_taken_and_checked(api, image_file):
    body = submit(api, image_file.path, region="EU", priority="5").json()
    assert (body["region"], body["priority"]) == ("EU", 5)
    job = Job.objects.select_related("media", "owner").get(pk=body["id"])
    spec = services.job_spec(job, ["phash"])
    assert (spec.region, spec.priority, spec.analyses) == ("EU", 5, ("phash",))
    for field, value in (("region", "EU NL"), ("priority", "soon"), ("priority", "100000")):
        response = submit(api, image_file.path, **{field: value})
        assert response.status_code == 400 and field in response.json()


def test_the_admin_escapes_what_the_record_quotes(api, admin_client, image_file):
    make_gpu(model="<script>alert(1)</script>")
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    html = admin_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_confidential_job_without_a_fitting_local_gpu_fails_with_reasons(
        api, offers, video_file):
    make_gpu(vram_gb=8, model="NVIDIA GeForce RTX 3060")
    job_id = submit(api, video_file.path, confidentiality="confidential").json()["id"]
    job = run_to_queue(job_id)
    assert job.state == JobState.FAILED
    placement = job.placement
    assert placement["placed"] is False
    assert placement["code"] == "confidential_no_local"
    assert job.error == placement["reason"]
    assert placement["excluded"]["confidential_local_only"] == 4
    assert placement["excluded"]["vram_too_small"] == 1
    assert any("register a local GPU with at least 24 GB" in s for s in placement["suggestions"])


def test_a_job_goes_to_the_cloud_when_no_local_gpu_fits(api, offers, video_file):
    make_gpu(vram_gb=8, model="NVIDIA GeForce RTX 3060")
    job = run_to_queue(submit(api, video_file.path).json()["id"])
    # No cloud agent exists yet: the job waits on its cloud queue.
    assert job.state == JobState.QUEUED
    placement = job.placement
    assert (placement["scope"], placement["queue"], placement["code"]) == (
        "cloud", "gpu.cloud.24", "no_local_fit")
    choice = placement["choice"]
    assert choice["provider"] == "vastai" and choice["instance_type"] == "1x-RTX_4090"
    assert choice["cost"] > 0
    assert services.month_spend(timezone.localtime()) == pytest.approx(choice["cost"])


def test_the_region_restricts_cloud_offers(api, offers, video_file):
    job_id = submit(api, video_file.path, region="us").json()["id"]
    choice = run_to_queue(job_id).placement["choice"]
    assert (choice["provider"], choice["region"]) == ("lambda", "us-east-1")


def test_a_queued_job_is_backlog_for_its_gpu(api, video_file):
    gpu = make_gpu()
    first = run_to_queue(submit(api, video_file.path).json()["id"])
    runtime = first.placement["choice"]["runtime_s"]
    now = timezone.localtime()
    backlog = {g.gpu_id: g.backlog_s for g in services.fleet_state(now).gpus}
    assert backlog == {gpu.id: pytest.approx(runtime)}
    second = run_to_queue(submit(api, video_file.path, urgency="low").json()["id"])
    assert second.placement["choice"]["wait_s"] == pytest.approx(runtime, rel=0.01)
    # Running for a while: only what is left of it counts.
    Job.objects.filter(pk=first.pk).update(state=JobState.RUNNING,
                                           running_at=now - timedelta(seconds=runtime / 2),
                                           gpu=gpu)
    assert services.backlog_by_gpu(now)[gpu.id] == pytest.approx(runtime * 1.5)


def test_month_spend_is_the_bill_plus_the_work_waiting_for_the_cloud(alice):
    asset = MediaAsset.objects.create(sha256="cd" * 32, size_bytes=10, media_type="audio")
    cloud = {"scope": "cloud", "choice": {"cost": 1.25}}
    # Only a job still waiting is as good as spent; the others are billed, or never will be.
    for state in (JobState.QUEUED, JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED):
        Job.objects.create(owner=alice, media=asset, confidentiality="public", placement=cloud,
                           state=state)
    now = timezone.now()
    start = billing.month_start(now)
    elapsed = now - start
    rented = {"provider": "subprocess", "offer_id": "o", "gpu_class": 24}
    # A fifth of the month so far at 0.5 per hour, ended.
    CloudInstance.objects.create(**rented, price_per_hour=0.5, state=InstanceState.TERMINATED,
                                 launched_at=start + elapsed * 0.1,
                                 terminated_at=start + elapsed * 0.3)
    # Running for its last half at 1.0: billed until now.
    CloudInstance.objects.create(**rented, price_per_hour=1.0, state=InstanceState.BUSY,
                                 launched_at=start + elapsed * 0.5)
    # Launched last month: only this month's part counts; ended last month: nothing.
    CloudInstance.objects.create(**rented, price_per_hour=2.0, state=InstanceState.TERMINATED,
                                 launched_at=start - timedelta(days=1),
                                 terminated_at=start + elapsed * 0.5)
    CloudInstance.objects.create(**rented, price_per_hour=7.0, state=InstanceState.TERMINATED,
                                 launched_at=start - timedelta(days=2),
                                 terminated_at=start - timedelta(days=1))
    hours = elapsed.total_seconds() / 3600
    expected = 1.25 + hours * (0.5 * 0.2 + 1.0 * 0.5 + 2.0 * 0.5)
    assert services.month_spend(now) == pytest.approx(expected, rel=1e-6)


def test_knowledge_from_benchmarks_and_finished_jobs(alice):
    gpu = make_gpu(performance_profile={"shots": 0.004})
    asset = MediaAsset.objects.create(sha256="ef" * 32, size_bytes=10, media_type="video",
                                      metadata={"duration_s": 100.0})
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal", gpu=gpu,
                             state=JobState.SUCCEEDED, urgency=Urgency.NORMAL)
    start = timezone.now()
    AnalysisResult.objects.create(job=job, analysis="loudness", data={}, started_at=start,
                                  finished_at=start + timedelta(seconds=2))
    knowledge = services.fleet_state(timezone.localtime()).knowledge
    model = normalise(gpu.model)
    assert knowledge.benchmarks == {(model, "shots"): 0.004}
    assert knowledge.observed == {(model, "loudness"): pytest.approx(0.02)}


def test_schedules_are_read_in_the_control_planes_time_zone(api, settings):
    # Fourteen hours from UTC: a window open now there is shut now in UTC.
    settings.TIME_ZONE = "Pacific/Kiritimati"
    hour = timezone.localtime().hour
    make_gpu(availability_schedule=f"daily {hour:02d}:00-{(hour + 2) % 24:02d}:00")
    body = api.post("/api/v1/placement/explain/",
                    {"media_type": "image", "size_bytes": 1000}, format="json").json()
    assert body["placed"] is True
    assert body["choice"]["wait_s"] == 0


def test_the_admin_shows_a_job_not_yet_placed(api, admin_client, audio_file):
    job_id = submit(api, audio_file.path).json()["id"]
    page = admin_client.get(f"/admin/jobs/job/{job_id}/change/")
    assert page.status_code == 200 and b"Not placed yet." in page.content


def test_registry_models_raise_the_gpu_need_and_travel_with_the_work(api, image_file):
    ModelArtifact.objects.create(name="yolo-x", version="1", task="person-detection",
                                 sha256="ab" * 32, size_bytes=1, filename="x.onnx",
                                 min_vram_gb=40, status="active")
    make_gpu()
    big = make_gpu(model="NVIDIA A100-SXM4-80GB", vram_gb=80, host="ws-18")
    job_id = submit(api, image_file.path, analyses="objects").json()["id"]
    probe_task(job_id)
    job = Job.objects.select_related("media", "owner").get(pk=job_id)
    decision = jobs.place(job)
    units = jobs.units_of(job)
    assert decision.to_dict()["vram_need_gb"] == 40
    assert decision.to_dict()["choice"]["gpu_id"] == big.id
    [unit] = units
    assert [m.name for m in unit.models["objects"]] == ["yolo-x"]


def test_long_media_become_one_unit_per_segment_plus_one_for_the_whole(api, video_file,
                                                                      settings):
    settings.AIMA_SEGMENT_S = 1.0
    make_gpu()
    job_id = submit(api, video_file.path).json()["id"]
    probe_task(job_id)
    job = Job.objects.select_related("media", "owner").get(pk=job_id)
    jobs.place(job)
    units = jobs.units_of(job)
    job.refresh_from_db()
    assert len(job.segments) == 4 and job.segments[-1][1] == job.media.metadata["duration_s"]
    assert [(u.analyses, u.segment) for u in units] == [
        (("loudness", "shots", "silence"), 0), *((("sounds", "vad"), i) for i in range(4))]
    assert [u.start_s for u in units[1:]] == [span[0] for span in job.segments]

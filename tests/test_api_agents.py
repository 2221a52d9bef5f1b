"""Agents enrolling, reporting in, taking jobs and fetching media."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aima_web.fleet.models import Agent, LocalGPU
from aima_web.fleet.services import create_enrollment_token
from aima_web.jobs.models import Job
from tests.agent_api import GPU, as_agent, delivered, enroll, reregister, start_body
from tests.placing import run_to_queue

pytestmark = pytest.mark.django_db


def test_registration_gives_a_credential_and_the_queues(operator_api):
    response = enroll()
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["queues"] == ["gpu.local.16", "gpu.local.24", "gpu.local.8"]
    agent = Agent.objects.get(pk=body["agent_id"])
    assert body["credential"] not in agent.credential_hash  # only the hash is kept
    gpus = operator_api.get("/api/v1/gpus/").json()["results"]
    assert [(g["uuid"], g["host"], g["simulated"], g["agent"]["online"]) for g in gpus] == [
        ("GPU-1234", "gpu-host-1", False, True)]


def test_reregistration_keeps_the_gpu(api):
    credential = enroll().json()["credential"]
    gpu = LocalGPU.objects.get()
    gpu.location = "Berlin DC2"
    gpu.save()
    reregister(credential, gpus=[{**GPU, "cuda_version": "12.6"}])
    gpu.refresh_from_db()
    assert LocalGPU.objects.count() == 1
    assert (gpu.cuda_version, gpu.location) == ("12.6", "Berlin DC2")


def test_simulated_gpu_is_shown_as_such(api):
    enroll(gpus=[{**GPU, "uuid": "SIM-1", "simulated": True}])
    assert api.get("/api/v1/gpus/").json()["results"][0]["simulated"] is True


def test_cloud_agents_do_not_join_the_local_fleet():
    body = enroll(scope="cloud").json()
    assert body["scope"] == "cloud"
    assert body["queues"] == ["gpu.cloud.16", "gpu.cloud.24", "gpu.cloud.8"]
    assert LocalGPU.objects.count() == 0


@pytest.mark.parametrize("header", ["", "Bearer nope", "Bearer a b"])
def test_registration_needs_a_valid_token(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/v1/agents/register/", {"name": "x", "gpus": [GPU]},
                           format="json")
    assert response.status_code == 401


def test_revoked_token_is_refused():
    token, secret = create_enrollment_token("old")
    token.revoked = True
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post("/api/v1/agents/register/", {"name": "x", "gpus": [GPU]},
                           format="json")
    assert response.status_code == 401
    assert "aima_enroll" in response.json()["detail"]


@pytest.mark.parametrize("gpu, field", [
    ({**GPU, "vram_gb": 0}, "vram_gb"), ({**GPU, "cuda_version": "twelve"}, "cuda_version")])
def test_bad_gpu_report_names_the_field(gpu, field):
    response = enroll(gpus=[gpu])
    assert response.status_code == 400
    assert field in str(response.json()["gpus"])
    assert Agent.objects.count() == 0


def test_heartbeat():
    credential = enroll().json()["credential"]
    agent = Agent.objects.get()
    agent.last_heartbeat = None
    agent.save()
    assert as_agent(credential).post("/api/v1/agents/heartbeat/").status_code == 200
    agent.refresh_from_db()
    assert agent.online
    assert as_agent("wrong").post("/api/v1/agents/heartbeat/").status_code == 401


def queued_job(api, path, confidentiality: str = "internal") -> Job:
    """A job submitted, probed and placed, its units sent to its queue."""
    with path.open("rb") as media:
        job_id = api.post("/api/v1/jobs/", {"media": media, "confidentiality": confidentiality},
                          format="multipart").json()["id"]
    return run_to_queue(job_id)


def test_agent_takes_a_job_and_fetches_its_media(api, image_file):
    credential = enroll().json()["credential"]
    job = queued_job(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    agent = as_agent(credential)
    started = agent.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, "GPU-1234"),
                         format="json")
    assert started.status_code == 200 and started.json() == {"wanted": list(work.analyses)}
    job.refresh_from_db()
    assert job.state == "running" and job.gpu.uuid == "GPU-1234" and job.running_at
    media = agent.get(f"/api/v1/agent-jobs/{job.id}/media/")
    assert media.status_code == 200
    assert b"".join(media.streaming_content) == image_file.path.read_bytes()
    assert media["X-Content-SHA256"] == job.media.sha256
    # A redelivered task starts it again without harm.
    again = agent.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work), format="json")
    assert again.status_code == 200


def test_cancelled_job_is_not_started(api, image_file):
    credential = enroll().json()["credential"]
    job = queued_job(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    api.post(f"/api/v1/jobs/{job.id}/cancel/")
    response = as_agent(credential).post(f"/api/v1/agent-jobs/{job.id}/start/",
                                         start_body(work), format="json")
    assert response.status_code == 409 and response.json()["state"] == "cancelled"


def test_users_cannot_use_agent_endpoints(api, image_file):
    enroll()
    job = queued_job(api, image_file.path)
    assert api.get(f"/api/v1/agent-jobs/{job.id}/media/").status_code == 401


def test_an_agent_starting_again_keeps_its_identity_with_a_new_credential():
    first = enroll().json()
    # Registering again with its own credential: the same agent, a new credential.
    again = as_agent(first["credential"]).post(
        "/api/v1/agents/register/", {"name": "gpu-host-1", "gpus": [GPU]}, format="json").json()
    assert again["agent_id"] == first["agent_id"] and Agent.objects.count() == 1
    assert again["scope"] == "local"
    assert as_agent(first["credential"]).post("/api/v1/agents/heartbeat/").status_code == 401
    assert as_agent(again["credential"]).post("/api/v1/agents/heartbeat/").status_code < 300
    # Another host is another agent.
    other = enroll(gpus=[{**GPU, "uuid": "GPU-5678"}], name="gpu-host-2").json()
    assert other["agent_id"] != first["agent_id"]


def test_a_cloud_agent_restarting_comes_back_with_its_credential_not_its_token():
    _, secret = create_enrollment_token("instance", scope="cloud")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    report = {"name": "aima-7", "gpus": [GPU]}
    first = client.post("/api/v1/agents/register/", report, format="json").json()
    assert first["scope"] == "cloud"
    # The token was for one agent: spent.
    assert client.post("/api/v1/agents/register/", report, format="json").status_code == 401
    again = as_agent(first["credential"]).post("/api/v1/agents/register/", report,
                                               format="json").json()
    assert again["agent_id"] == first["agent_id"] and Agent.objects.count() == 1


def test_a_benchmark_at_registration_becomes_the_gpus_profile(operator_api):
    credential = enroll(gpus=[{**GPU, "performance_profile": {"shots": 0.03, "loudness": 0.004}}]
                        ).json()["credential"]
    assert LocalGPU.objects.get().performance_profile == {"shots": 0.03, "loudness": 0.004}
    # Registering again without one keeps it; a bad one is refused by name.
    credential = reregister(credential).json()["credential"]
    assert operator_api.get("/api/v1/gpus/").json()["results"][0]["performance_profile"] == {
        "shots": 0.03, "loudness": 0.004}
    bad = reregister(credential, gpus=[{**GPU, "performance_profile": {"dance": 1}}])
    assert bad.status_code == 400 and "unknown analysis dance" in str(bad.json())


def test_compute_figures_at_registration_are_kept_with_their_device(operator_api):
    figures = {"device": "cuda", "fp32_tflops": 51.2, "fp16_tflops": 389.0,
               "memory_gb_per_s": 3350.0}
    credential = enroll(gpus=[{**GPU, "compute_benchmark": figures}]).json()["credential"]
    gpus = operator_api.get("/api/v1/gpus/").json()["results"]
    assert gpus[0]["compute_benchmark"] == figures
    bad = reregister(credential, gpus=[{**GPU, "compute_benchmark": {**figures, "device": "tpu"}}])
    assert bad.status_code == 400 and "device" in str(bad.json())

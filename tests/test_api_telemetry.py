"""GPU telemetry on the control plane: heartbeats that carry samples, the
history kept, a GPU's failed status following them, and where it is shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.fleet.services import create_enrollment_token

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/v1/agents/heartbeat/"
IDLE = {"uuid": "GPU-1", "utilization_pct": 1, "memory_used_gb": 0.5, "memory_total_gb": 24,
        "temperature_c": 41, "slowdown_temperature_c": 90, "power_w": 22.5,
        "processes": [], "error": "", "simulated": False}
HOT = {**IDLE, "utilization_pct": 97, "temperature_c": 92}
LOST = {"uuid": "GPU-1", "error": "GPU is lost"}


def enrolled(scope: str = "local", uuids: tuple[str, ...] = ("GPU-1",),
             name: str = "gpu-host-1") -> APIClient:
    """An agent client, enrolled through the API with a GPU per UUID."""
    _, secret = create_enrollment_token(name, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    gpus = [{"uuid": uuid, "model": "NVIDIA RTX A5000", "vram_gb": 24, "cuda_version": "12.4"}
            for uuid in uuids]
    body = client.post("/api/v1/agents/register/", {"name": name, "gpus": gpus},
                       format="json").json()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {body['credential']}")
    return client


def beat(agent: APIClient, *samples: dict):
    return agent.post(HEARTBEAT, {"gpus": list(samples)}, format="json")


def status() -> str:
    return LocalGPU.objects.get(uuid="GPU-1").status


def test_a_heartbeat_stores_a_sample_per_gpu_it_serves():
    agent = enrolled(uuids=("GPU-1", "GPU-2"))
    response = beat(agent, IDLE, {**IDLE, "uuid": "GPU-2", "utilization_pct": 50,
                                  "processes": [{"pid": 4242, "used_memory_gb": 3.5}]},
                    {**IDLE, "uuid": "GPU-of-someone-else"})
    assert response.status_code == 200, response.content
    # The answer: both GPUs take work.
    assert response.json() == {"gpus": {"GPU-1": {"serve": True, "reason": ""},
                                        "GPU-2": {"serve": True, "reason": ""}}}
    rows = {row.gpu.uuid: row for row in GpuTelemetry.objects.select_related("gpu")}
    assert set(rows) == {"GPU-1", "GPU-2"}
    assert (rows["GPU-1"].activity, rows["GPU-1"].power_w, rows["GPU-1"].failure) == (
        "idle", 22.5, "")
    assert rows["GPU-2"].activity == "active"
    assert rows["GPU-2"].processes == [{"pid": 4242, "used_memory_gb": 3.5}]
    assert Agent.objects.get().online


@pytest.mark.parametrize("body", [{}, None])
def test_an_older_agent_without_telemetry_still_beats(body):
    agent = enrolled()
    Agent.objects.update(last_heartbeat=None)
    response = agent.post(HEARTBEAT, body, format="json" if body is not None else None)
    assert response.status_code == 200, response.content
    assert Agent.objects.get().online and not GpuTelemetry.objects.exists()


def test_a_cloud_agent_may_report_but_nothing_is_kept():
    agent = enrolled(scope="cloud")
    response = beat(agent, HOT)
    assert response.status_code == 200 and response.json() == {"gpus": {}}
    assert not GpuTelemetry.objects.exists() and not LocalGPU.objects.exists()


def test_only_a_short_history_is_kept(settings):
    settings.AIMA_GPU_HISTORY_S = 600
    agent = enrolled()
    other = enrolled(uuids=("GPU-9",), name="gpu-host-9")
    beat(agent, IDLE)
    beat(other, {**IDLE, "uuid": "GPU-9"})
    GpuTelemetry.objects.update(received_at=timezone.now() - timedelta(seconds=601))
    beat(agent, IDLE)
    assert GpuTelemetry.objects.filter(gpu__uuid="GPU-1").count() == 1
    # Each agent prunes its own GPUs' history, with its own heartbeat.
    assert GpuTelemetry.objects.filter(gpu__uuid="GPU-9").count() == 1


def test_a_failure_marks_the_gpu_failed_and_a_healthy_sample_lifts_it():
    agent = enrolled()
    # A failing GPU is told at once to take no more work.
    assert beat(agent, HOT).json()["gpus"]["GPU-1"] == {
        "serve": False, "reason": "the GPU is failed: overheating: 92 °C, slowdown at 90 °C"}
    assert status() == "failed"
    beat(agent, LOST)  # still failed: no second entry in the trail
    assert status() == "failed"
    assert beat(agent, IDLE).json()["gpus"]["GPU-1"]["serve"] is True
    assert status() == "available"
    trail = list(AuditEvent.objects.filter(subject__startswith="gpu:").order_by("id")
                 .values_list("actor", "action", "detail"))
    agent_id = Agent.objects.get().id
    assert trail == [
        (f"agent:{agent_id}", "gpu.failed",
         {"uuid": "GPU-1", "reason": "overheating: 92 °C, slowdown at 90 °C",
          "health": "temporary", "then": "drain"}),
        (f"agent:{agent_id}", "gpu.recovered", {"uuid": "GPU-1"})]
    assert list(GpuTelemetry.objects.values_list("failure", flat=True)) == [
        "", "GPU is lost", "overheating: 92 °C, slowdown at 90 °C"]


@pytest.mark.parametrize("held", ["maintenance", "retired"])
def test_telemetry_leaves_a_status_an_admin_set_alone(held):
    agent = enrolled()
    LocalGPU.objects.update(status=held)
    beat(agent, LOST)
    assert status() == held
    beat(agent, IDLE)
    assert status() == held
    assert not AuditEvent.objects.filter(action__in=["gpu.failed", "gpu.recovered"]).exists()


def test_an_admin_may_take_a_failed_gpu_into_maintenance():
    agent = enrolled()
    beat(agent, LOST)
    LocalGPU.objects.update(status="maintenance")
    beat(agent, IDLE)
    assert status() == "maintenance"


@pytest.mark.parametrize("bad, field", [
    ({**IDLE, "utilization_pct": 101}, "utilization_pct"),
    ({**IDLE, "memory_used_gb": 30}, "memory_used_gb"),
    ({**IDLE, "power_w": -1}, "power_w"),
    ({**IDLE, "temperature_c": "hot"}, "temperature_c"),
    ({**IDLE, "processes": [{"pid": "x"}]}, "pid"),
    ({**IDLE, "uuid": ""}, "uuid"),
    (IDLE, "one sample per GPU; repeated: GPU-1"),
])
def test_a_bad_heartbeat_is_refused_whole(bad, field):
    agent = enrolled()
    Agent.objects.update(last_heartbeat=None)
    response = beat(agent, LOST, bad)
    assert response.status_code == 400
    assert field in str(response.json())
    # Neither the good sample before it is kept, nor the beat itself.
    assert not GpuTelemetry.objects.exists() and status() == "available"
    assert Agent.objects.get().last_heartbeat is None


def test_gpus_must_be_a_list():
    response = enrolled().post(HEARTBEAT, {"gpus": IDLE}, format="json")
    assert response.status_code == 400 and "gpus" in response.json()


def test_the_gpu_list_shows_each_gpus_latest_sample(operator_api, django_assert_max_num_queries):
    agent = enrolled(uuids=("GPU-1", "GPU-2", "GPU-3"))
    beat(agent, IDLE, {**IDLE, "uuid": "GPU-2"})
    beat(agent, HOT)
    # Not a query per GPU; two read the user's permissions (role).
    with django_assert_max_num_queries(7):
        gpus = {g["uuid"]: g for g in operator_api.get("/api/v1/gpus/").json()["results"]}
    latest = gpus["GPU-1"]["latest_sample"]
    assert (latest["activity"], latest["temperature_c"], latest["failure"]) == (
        "busy", 92, "overheating: 92 °C, slowdown at 90 °C")
    assert gpus["GPU-1"]["status"] == "failed"
    assert gpus["GPU-2"]["latest_sample"]["activity"] == "idle"
    assert gpus["GPU-3"]["latest_sample"] is None
    detail = operator_api.get(f"/api/v1/gpus/{gpus['GPU-1']['id']}/").json()
    assert detail["latest_sample"] == latest


def test_the_telemetry_endpoint_gives_the_history_newest_first(operator_api):
    agent = enrolled()
    for utilization in range(55):
        beat(agent, {**IDLE, "utilization_pct": utilization})
    gpu = LocalGPU.objects.get()
    page = operator_api.get(f"/api/v1/gpus/{gpu.id}/telemetry/").json()
    assert page["count"] == 55 and len(page["results"]) == 50  # bounded: a page at a time
    assert [s["utilization_pct"] for s in page["results"][:3]] == [54, 53, 52]
    assert set(page["results"][0]) >= {"received_at", "activity", "memory_used_gb", "processes"}
    older = operator_api.get(page["next"]).json()
    assert [s["utilization_pct"] for s in older["results"]] == [4, 3, 2, 1, 0]
    assert operator_api.get("/api/v1/gpus/999/telemetry/").status_code == 404
    assert APIClient().get(f"/api/v1/gpus/{gpu.id}/telemetry/").status_code == 401


def test_the_schema_describes_telemetry(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/v1/gpus/{id}/telemetry/" in schema["paths"]
    heartbeat = schema["paths"]["/api/v1/agents/heartbeat/"]["post"]
    assert "requestBody" in heartbeat
    components = schema["components"]["schemas"]
    assert "utilization_pct" in components["GpuSampleReport"]["properties"]
    assert "latest_sample" in components["LocalGPU"]["properties"]


def test_the_admin_shows_recent_samples(client, django_user_model):
    agent = enrolled()
    beat(agent, IDLE)
    beat(agent, HOT)
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "pw"))
    gpu = LocalGPU.objects.get()
    page = client.get(f"/admin/fleet/localgpu/{gpu.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Recent samples" in html
    assert "overheating: 92 °C, slowdown at 90 °C" in html and "<td>idle</td>" in html
    assert client.get("/admin/fleet/localgpu/add/").status_code == 200

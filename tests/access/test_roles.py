"""What each role sees and may do beyond the matrix: whose jobs (own, team, all),
which GPU details, which teams placement matches GPU access restrictions with,
and what the admin shows each role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.access.roles import Capability, Role, capabilities
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.placement.services import job_spec
from tests.conftest import client_for
from tests.placing import make_gpu

pytestmark = pytest.mark.django_db

EXPLAIN = "/api/v1/placement/explain/"
VIDEO = {"media_type": "video", "size_bytes": 2_000_000_000, "duration_s": 600}
GPU_FORM = {"model": "NVIDIA RTX 4090", "vram_gb": "24", "cuda_version": "12.4",
            "host": "ws-17", "location": "Lab 2", "availability_schedule": "24/7",
            "status": "available", "power_watts": "0", "purchase_price": "0",
            "lifetime_hours": "26280", "performance_profile": "{}"}


def job_of(user) -> Job:
    asset, _ = MediaAsset.objects.get_or_create(sha256="ef" * 32,
                                                defaults={"size_bytes": 10, "media_type": "image"})
    return Job.objects.create(owner=user, media=asset, confidentiality="internal",
                              analyses=["objects"])


def team(name: str, *users) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    group.user_set.add(*users)
    return group


def test_role_groups_hold_their_capabilities_and_admin_every_permission():
    for role in Role:
        held = set(Group.objects.get(name=role.label).permissions
                   .filter(content_type__app_label="access").values_list("codename", flat=True))
        assert held == {cap.value for cap in capabilities(role)}, role
    assert (Group.objects.get(name="admin").permissions.count() == Permission.objects.count())


def test_viewers_see_their_own_and_their_teams_jobs_only(make_user):
    viewer = make_user("vera", role=Role.VIEWER)
    mate, stranger = make_user("mats"), make_user("stan")
    team("forensics", viewer, mate)
    own, teams, strangers = job_of(viewer), job_of(mate), job_of(stranger)
    api = client_for(viewer)
    listed = {row["id"] for row in api.get("/api/v1/jobs/").json()["results"]}
    assert listed == {str(own.id), str(teams.id)}
    for path in ("", "results/", "report/"):
        assert api.get(f"/api/v1/jobs/{teams.id}/{path}").status_code == 200
        assert api.get(f"/api/v1/jobs/{strangers.id}/{path}").status_code == 404
    # Sharing a role is not sharing a team.
    assert client_for(mate).get(f"/api/v1/jobs/{strangers.id}/").status_code == 404
    # Viewers submit nothing and cancel nothing, not even their own.
    assert api.post(f"/api/v1/jobs/{own.id}/cancel/").status_code == 403


def test_analysts_cancel_their_own_jobs_and_operators_anyones(make_user):
    analyst, mate, stranger = make_user("ana"), make_user("mats"), make_user("stan")
    team("forensics", analyst, mate)
    api = client_for(analyst)
    assert api.post(f"/api/v1/jobs/{job_of(analyst).id}/cancel/").status_code == 200
    assert api.post(f"/api/v1/jobs/{job_of(mate).id}/cancel/").status_code == 403
    assert api.post(f"/api/v1/jobs/{job_of(stranger).id}/cancel/").status_code == 404
    operator = client_for(make_user("olga", role=Role.OPERATOR))
    assert operator.post(f"/api/v1/jobs/{job_of(stranger).id}/cancel/").status_code == 200


def test_without_a_role_a_user_sees_nothing(make_user):
    api = client_for(make_user("nemo", role=None))
    for path in ("jobs/", "gpus/", "placement/policy/"):
        assert api.get(f"/api/v1/{path}").status_code == 403


def test_only_operators_see_gpu_uuids_hosts_agents_and_processes(api, operator_api):
    gpu = make_gpu(uuid="GPU-SECRET", access_restrictions=[])
    GpuTelemetry.objects.create(gpu=gpu, received_at=gpu.registered_at,
                                processes=[{"pid": 4242, "used_memory_gb": 3.5}])
    for response in (api.get("/api/v1/gpus/"), api.get(f"/api/v1/gpus/{gpu.id}/")):
        body = response.json()
        shown = body["results"][0] if "results" in body else body
        assert set(shown) == {"id", "model", "vram_gb", "cuda_version", "location",
                              "availability_schedule", "status", "simulated", "registered_at",
                              "retired_at"}
        assert b"GPU-SECRET" not in response.content and b"ws-17" not in response.content
        assert b"4242" not in response.content
    assert api.get(f"/api/v1/gpus/{gpu.id}/telemetry/").status_code == 403
    full = operator_api.get(f"/api/v1/gpus/{gpu.id}/").json()
    assert (full["uuid"], full["host"]) == ("GPU-SECRET", "ws-17")
    assert full["latest_sample"]["processes"] == [{"pid": 4242, "used_memory_gb": 3.5}]


def test_placement_matches_gpu_access_with_the_owners_teams_not_roles(api, alice):
    # A GPU reserved for a role's group is reserved for nobody's team.
    make_gpu(access_restrictions=[Role.ANALYST.label])
    assert api.post(EXPLAIN, VIDEO, format="json").json()["excluded"] == {"access_denied": 1}
    team("forensics", alice)
    assert job_spec(job_of(alice)).groups == frozenset({"forensics"})
    LocalGPU.objects.update(access_restrictions=["forensics"])
    assert api.post(EXPLAIN, VIDEO, format="json").json()["placed"] is True


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "pw"))
    return client


@pytest.mark.parametrize("names, error", [
    ('["nosuchteam"]', "no team (user group that is not a role) named nosuchteam"),
    ('["operator"]', "no team (user group that is not a role) named operator"),
])
def test_gpu_access_restrictions_name_existing_teams(admin_client, names, error):
    response = admin_client.post("/admin/fleet/localgpu/add/",
                                 {**GPU_FORM, "access_restrictions": names})
    assert response.status_code == 200 and error in response.content.decode()
    assert not LocalGPU.objects.exists()
    team("forensics")
    response = admin_client.post("/admin/fleet/localgpu/add/",
                                 {**GPU_FORM, "access_restrictions": '["forensics"]'})
    assert response.status_code == 302
    assert LocalGPU.objects.get().access_restrictions == ["forensics"]


def admin_actions(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # none when no action is allowed
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def test_operators_drain_in_the_admin_and_admins_retire(client, make_user):
    make_gpu()
    client.force_login(make_user("olga", staff=True, role=Role.OPERATOR))
    assert admin_actions(client, "/admin/fleet/localgpu/") == {"drain", "resume"}
    assert admin_actions(client, "/admin/instances/cloudinstance/") == set()
    client.force_login(make_user("adam", staff=True, role=Role.ADMIN))
    assert {"drain", "resume", "retire", "delete_selected"} <= admin_actions(
        client, "/admin/fleet/localgpu/")


def test_staff_without_a_role_see_no_admin_page(client, make_user):
    client.force_login(make_user("sam", staff=True, role=None))
    response = client.get("/admin/")
    assert response.status_code == 200 and response.context["app_list"] == []
    assert client.get("/admin/fleet/localgpu/").status_code == 403


def test_the_admin_is_for_staff_whatever_their_role(make_user):
    client = APIClient()
    client.force_login(make_user("adam", role=Role.ADMIN))  # not staff
    assert client.get("/admin/").status_code == 302


def test_a_capability_is_a_permission_an_admin_may_grant_alone(make_user):
    user = make_user("gus", role=None)
    user.user_permissions.add(Permission.objects.get(codename=Capability.VIEW_GPUS.value))
    assert client_for(user).get("/api/v1/gpus/").status_code == 200
    assert client_for(user).get("/api/v1/jobs/").status_code == 403


def test_only_operators_see_which_agent_and_gpu_ran_a_job(alice, api, operator_api):
    job = job_of(alice)
    agent = Agent.objects.create(name="ws-17", scope="local", credential_hash="y" * 64)
    Job.objects.filter(pk=job.pk).update(agent=agent)
    start = timezone.now()
    segment = {"index": 0, "start_s": 0.0, "end_s": 10.0, "agent_id": agent.id,
               "gpu_uuid": "GPU-SECRET"}
    AnalysisResult.objects.create(
        job=job, analysis="objects", data={"detections": []}, meta={"segments": [segment]},
        agent=agent, gpu_uuid="GPU-SECRET", started_at=start, finished_at=start)
    paths = (f"/api/v1/jobs/{job.id}/results/", f"/api/v1/jobs/{job.id}/report/",
             f"/api/v1/jobs/{job.id}/report/?format=html")
    for path in paths:
        hidden, shown = api.get(path), operator_api.get(path)
        assert hidden.status_code == shown.status_code == 200, path
        assert b"GPU-SECRET" not in hidden.content and b"GPU-SECRET" in shown.content, path
    assert api.get(f"/api/v1/jobs/{job.id}/").json()["agent"] == {"scope": "local"}
    assert operator_api.get(f"/api/v1/jobs/{job.id}/").json()["agent"]["id"] == agent.id
    [row] = api.get(f"/api/v1/jobs/{job.id}/results/").json()
    assert (row["gpu_uuid"], row["meta"]["segments"][0]["agent_id"]) == ("", None)
    [ran] = api.get(f"/api/v1/jobs/{job.id}/report/").json()["analyses"]
    assert (ran["agent_id"], ran["agent"], ran["gpu_uuid"]) == (None, None, "")

"""The admin: register, edit and retire local GPUs; see jobs and agents."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import EnrollmentToken, LocalGPU
from aima_web.fleet.services import ReportedGpu, create_enrollment_token, enrol
from aima_web.registry.models import ModelArtifact

pytestmark = pytest.mark.django_db

GPU_FORM = {"model": "NVIDIA RTX 4090", "vram_gb": "24", "cuda_version": "12.4",
            "host": "ws-17", "location": "Lab 2", "availability_schedule": "Mon-Fri 18:00-08:00",
            "access_restrictions": '["forensics"]', "status": "available",
            "power_watts": "450", "purchase_price": "1800", "lifetime_hours": "26280",
            "performance_profile": "{}"}


@pytest.fixture
def admin_client(client, django_user_model):
    Group.objects.create(name="forensics")  # the team GPU_FORM reserves its GPU for
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    return client


def test_register_a_gpu_by_hand(admin_client):
    response = admin_client.post("/admin/fleet/localgpu/add/", GPU_FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    gpu = LocalGPU.objects.get()
    assert (gpu.model, gpu.vram_gb, gpu.access_restrictions, gpu.simulated) == (
        "NVIDIA RTX 4090", 24.0, ["forensics"], False)
    assert AuditEvent.objects.filter(action="gpu.registered", actor="user:root").exists()


@pytest.mark.parametrize("field, value", [("cuda_version", "twelve"), ("vram_gb", "0"),
                                          ("access_restrictions", '{"group": 1}')])
def test_bad_gpu_input_is_refused(admin_client, field, value):
    response = admin_client.post("/admin/fleet/localgpu/add/", {**GPU_FORM, field: value})
    assert response.status_code == 200  # the form again, with the error
    assert b"errorlist" in response.content
    assert not LocalGPU.objects.exists()


def test_retire(admin_client):
    admin_client.post("/admin/fleet/localgpu/add/", GPU_FORM)
    gpu = LocalGPU.objects.get()
    admin_client.post("/admin/fleet/localgpu/", {"action": "retire", "_selected_action": [gpu.id]})
    gpu.refresh_from_db()
    assert gpu.status == "retired" and gpu.retired_at is not None


def test_lists_show_simulated_gpus_agents_and_jobs(admin_client):
    token, _ = create_enrollment_token("t")
    enrol(token, "sim-host", "0.1", [ReportedGpu("SIM-1", "Fake", 24, "12.4", True)])
    gpus = admin_client.get("/admin/fleet/localgpu/")
    assert gpus.status_code == 200 and b"sim-host" in gpus.content
    assert b"icon-yes" in gpus.content  # the simulated column
    assert admin_client.get("/admin/fleet/agent/").status_code == 200
    assert admin_client.get("/admin/jobs/job/").status_code == 200
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200


def test_enrollment_token_is_shown_once_and_stored_hashed(admin_client):
    response = admin_client.post("/admin/fleet/enrollmenttoken/add/",
                                 {"label": "rack 3", "scope": "local", "max_uses": 1},
                                 follow=True)
    token = EnrollmentToken.objects.get()
    assert (token.scope, token.max_uses, token.uses) == ("local", 1, 0)
    shown = next(str(m) for m in response.context["messages"]).rsplit(" ", 1)[-1]
    assert len(shown) == 64 and shown != token.token_hash


def test_model_artifacts_are_listed_and_never_edited(admin_client):
    artifact = ModelArtifact.objects.create(name="person", version="1.0", sha256="ab" * 32,
                                            size_bytes=10, filename="person.onnx")
    listing = admin_client.get("/admin/registry/modelartifact/")
    assert listing.status_code == 200
    assert b"person" in listing.content and b"retired" in listing.content
    assert admin_client.get("/admin/registry/modelartifact/add/").status_code == 403
    page = admin_client.get(f"/admin/registry/modelartifact/{artifact.id}/change/")
    assert page.status_code == 200 and b'name="sha256"' not in page.content

"""Which GPUs take work now, as the control plane answers agents: drained
into maintenance, returned to service, inside or outside their window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.access.roles import Role
from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import LocalGPU
from tests.test_api_agents import GPU, as_agent, enroll

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/v1/agents/heartbeat/"


@pytest.fixture
def staff(make_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("ops", role=Role.OPERATOR))
    return client


def answer(credential: str) -> dict:
    return as_agent(credential).post(HEARTBEAT, {}, format="json").json()["gpus"][GPU["uuid"]]


def test_registration_answers_which_gpus_take_work():
    body = enroll().json()
    assert body["gpus"] == {GPU["uuid"]: {"serve": True, "reason": ""}}


def test_a_drained_gpu_takes_no_work_until_it_is_resumed(staff, api):
    credential = enroll().json()["credential"]
    gpu = LocalGPU.objects.get()
    drained = staff.post(f"/api/v1/gpus/{gpu.id}/drain/")
    assert drained.status_code == 200 and drained.json()["status"] == "maintenance"
    assert answer(credential) == {"serve": False, "reason": "the GPU is maintenance"}
    # Only operators may drain.
    assert api.post(f"/api/v1/gpus/{gpu.id}/resume/").status_code == 403
    assert staff.post(f"/api/v1/gpus/{gpu.id}/resume/").json()["status"] == "available"
    assert answer(credential) == {"serve": True, "reason": ""}
    assert list(AuditEvent.objects.filter(action__in=["gpu.drained", "gpu.resumed"])
                .order_by("id").values_list("actor", "action")) == [("user:ops", "gpu.drained"),
                                                     ("user:ops", "gpu.resumed")]


def test_a_retired_gpu_cannot_be_drained_or_resumed(staff):
    enroll()
    gpu = LocalGPU.objects.get()
    gpu.retire()
    for verb in ("drain", "resume"):
        response = staff.post(f"/api/v1/gpus/{gpu.id}/{verb}/")
        assert response.status_code == 409 and "retired" in response.json()["detail"]


def test_outside_its_window_a_gpu_takes_no_work(staff, api):
    credential = enroll().json()["credential"]
    gpu = LocalGPU.objects.get()
    now = timezone.localtime()
    later = f"daily {now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    response = staff.patch(f"/api/v1/gpus/{gpu.id}/", {"availability_schedule": later},
                           format="json")
    assert response.status_code == 200 and response.json()["availability_schedule"] == later
    assert answer(credential) == {"serve": False,
                                  "reason": f"outside its availability window ({later})"}
    staff.patch(f"/api/v1/gpus/{gpu.id}/", {"availability_schedule": "24/7"}, format="json")
    assert answer(credential)["serve"] is True
    # A schedule that does not parse is refused, saying how to write one.
    bad = staff.patch(f"/api/v1/gpus/{gpu.id}/", {"availability_schedule": "weekdays"},
                      format="json")
    assert bad.status_code == 400 and "availability_schedule" in bad.json()
    assert api.patch(f"/api/v1/gpus/{gpu.id}/", {"location": "x"},
                     format="json").status_code == 403
    # What may not be changed here is refused by name, and nothing is changed.
    refused = staff.patch(f"/api/v1/gpus/{gpu.id}/", {"location": "Lab 2", "status": "busy"},
                          format="json")
    assert refused.status_code == 400 and "drain/ or resume/" in refused.json()["status"]
    gpu.refresh_from_db()
    assert gpu.location != "Lab 2" and gpu.status == "available"


def test_the_admin_drains_and_resumes(client, django_user_model):
    enroll()
    gpu = LocalGPU.objects.get()
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "pw"))
    url = "/admin/fleet/localgpu/"
    client.post(url, {"action": "drain", "_selected_action": [gpu.id]})
    assert LocalGPU.objects.get().status == "maintenance"
    client.post(url, {"action": "resume", "_selected_action": [gpu.id]})
    assert LocalGPU.objects.get().status == "available"

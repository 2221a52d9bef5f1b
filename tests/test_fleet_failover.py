"""Failover: a lost agent's GPUs leave placement and its running unit goes to
another GPU, whose agent finishes it; the lost agent's late result is refused,
and its GPUs come back when it beats again. A GPU that fails for good has its
units moved the same way. Real broker: units are taken off the queue as an
agent's worker would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.routing import TaskName
from aima_tasks.topology import declared_queues
from aima_web.audit.models import AuditEvent
from aima_web.celery import app
from aima_web.fleet.models import Agent, Assignment, LocalGPU
from aima_web.fleet.tasks import fleet_health
from aima_web.jobs.models import Job
from aima_web.placement import services as placement
from tests.agent_api import GPU, as_agent, delivered, enroll, result_body, start_body
from tests.placing import run_to_queue, write_prices
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db

OTHER_GPU = {**GPU, "uuid": "GPU-OTHER"}
HEARTBEAT = "/api/v1/agents/heartbeat/"


@pytest.fixture
def two_agents():
    first = as_agent(enroll().json()["credential"])
    second = as_agent(enroll(gpus=[OTHER_GPU], name="gpu-host-2").json()["credential"])
    return first, second


def running_on_first(api, path, first, confidentiality: str = "internal"):
    job = run_to_queue(submit(api, path, confidentiality=confidentiality).json()["id"])
    [work] = delivered(str(job.id), job.placement["queue"])
    started = first.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, GPU["uuid"]),
                         format="json")
    assert started.status_code == 200, started.content
    return job, work


def fall_silent(uuid: str = GPU["uuid"]) -> None:
    Agent.objects.filter(gpus__uuid=uuid).update(last_heartbeat=timezone.now() - timedelta(
        seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S + 1))


def gpu(uuid: str = GPU["uuid"]) -> LocalGPU:
    return LocalGPU.objects.get(uuid=uuid)


def statuses_for_placement() -> dict[int, GpuStatus]:
    fleet = placement.fleet_state(timezone.localtime())
    return {g.gpu_id: g.status for g in fleet.gpus}


def test_a_lost_agents_unit_finishes_on_another_gpu_and_its_late_result_is_refused(
        api, image_file, two_agents):
    first, second = two_agents
    job, work = running_on_first(api, image_file.path, first)
    fall_silent()
    # Out of placement from the moment it is lost, before any task ran.
    assert statuses_for_placement()[gpu().id] == GpuStatus.OFFLINE
    assert statuses_for_placement()[gpu(OTHER_GPU["uuid"]).id] == GpuStatus.AVAILABLE

    assert fleet_health.apply().get() == {"offline": 1, "moved": 1, "placed_again": 0}
    assert (gpu().status, gpu().health_reason) == (
        "offline", f"its agent sent no heartbeat for {settings.AIMA_AGENT_OFFLINE_AFTER_S} s")
    assert not Assignment.objects.filter(job=job).exists()
    job.refresh_from_db()
    assert job.state == "running" and job.gpu is None
    assert job.placement["choice"]["gpu_id"] == gpu(OTHER_GPU["uuid"]).id
    [moved] = AuditEvent.objects.filter(action="job.failed_over")
    assert moved.detail["from"]["gpu_ids"] == [gpu().id]
    assert moved.detail["to"]["gpu_id"] == gpu(OTHER_GPU["uuid"]).id
    assert moved.detail["reason"] == "its agent was lost"

    # The same unit, sent again: the other agent takes and finishes it.
    [again] = delivered(str(job.id), job.placement["queue"])
    assert (again.segment, again.analyses, again.ticket) == (work.segment, work.analyses,
                                                             work.ticket)
    # The lost agent wakes up and reports: refused, its unit is no longer its own.
    late = first.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(work, {"late": 1}),
                      format="json")
    assert late.status_code == 403
    assert second.post(f"/api/v1/agent-jobs/{job.id}/start/",
                       start_body(again, OTHER_GPU["uuid"]), format="json").status_code == 200
    done = second.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(again),
                       format="json")
    assert done.json() == {"state": "succeeded"}
    assert Job.objects.get(pk=job.pk).gpu.uuid == OTHER_GPU["uuid"]

    # It beats again: its GPU is back in placement and takes work.
    answer = first.post(HEARTBEAT, {"gpus": []}, format="json").json()
    assert answer["gpus"][GPU["uuid"]] == {"serve": True, "reason": ""}
    assert gpu().status == "available"
    assert AuditEvent.objects.filter(action="gpu.back").count() == 1
    # Nothing more to move: the sweep is idempotent.
    assert fleet_health.apply().get() == {"offline": 0, "moved": 0, "placed_again": 0}


def test_a_job_queued_for_a_lost_gpu_is_placed_on_another_of_its_queue_unsent_again(
        api, image_file, two_agents):
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    placed_on = job.placement["choice"]["gpu_id"]
    fall_silent(LocalGPU.objects.get(pk=placed_on).uuid)
    assert fleet_health.apply().get() == {"offline": 1, "moved": 0, "placed_again": 1}
    job.refresh_from_db()
    assert job.placement["choice"]["gpu_id"] not in (None, placed_on)
    # Its messages wait on the same queue: none is sent twice.
    assert len(delivered(str(job.id), job.placement["queue"])) == 1
    [event] = AuditEvent.objects.filter(action="job.failed_over")
    assert event.detail["resent"] is False and event.detail["from"]["gpu_id"] == placed_on


def test_a_job_queued_for_the_only_local_gpu_goes_to_the_cloud_when_it_is_lost(
        api, image_file, tmp_path):
    call_command("aima_offers", "load", str(write_prices(tmp_path)), stdout=None)
    assert enroll().status_code == 201
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    local_queue = job.placement["queue"]
    assert job.placement["scope"] == "local"
    fall_silent()
    assert fleet_health.apply().get() == {"offline": 1, "moved": 0, "placed_again": 1}
    job.refresh_from_db()
    assert (job.placement["scope"], job.placement["earlier_queues"]) == ("cloud", [local_queue])
    assert len(delivered(str(job.id), job.placement["queue"])) == 1


def test_a_new_job_is_placed_on_the_gpu_that_still_answers(api, image_file, two_agents):
    fall_silent()
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.placement["choice"]["gpu_id"] == gpu(OTHER_GPU["uuid"]).id


def test_a_confidential_unit_waits_on_its_local_queue_when_no_local_gpu_is_left(
        api, image_file, two_agents):
    first, _ = two_agents
    job, work = running_on_first(api, image_file.path, first, confidentiality="confidential")
    fall_silent()
    fall_silent(OTHER_GPU["uuid"])
    assert fleet_health.apply().get() == {"offline": 2, "moved": 1, "placed_again": 0}
    job.refresh_from_db()
    # Never to the cloud: on the queue it had, waiting for a local GPU.
    assert job.placement["scope"] == "local" and job.placement["waiting"]
    [again] = delivered(str(job.id), job.placement["queue"])
    assert again.ticket == work.ticket


def test_a_gpu_failed_for_good_has_its_unit_moved_to_another(api, image_file, two_agents):
    first, second = two_agents
    job, work = running_on_first(api, image_file.path, first)
    sample = {"uuid": GPU["uuid"], "ecc_uncorrected": 3, "temperature_c": 50}
    answer = first.post(HEARTBEAT, {"gpus": [sample]}, format="json").json()
    assert answer["gpus"][GPU["uuid"]] == {
        "serve": False, "reason": "the GPU is failed: 3 uncorrectable ECC errors"}
    assert (gpu().status, gpu().health) == ("failed", "persistent")
    assert fleet_health.apply().get() == {"offline": 0, "moved": 1, "placed_again": 0}
    [moved] = AuditEvent.objects.filter(action="job.failed_over")
    assert moved.detail["reason"] == "its GPU failed"
    [again] = delivered(str(job.id), job.placement["queue"])
    # The agent, alive, finishes the unit it had: too late, another GPU has it now.
    assert first.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(work),
                      format="json").status_code == 403
    assert second.post(f"/api/v1/agent-jobs/{job.id}/start/",
                       start_body(again, OTHER_GPU["uuid"]), format="json").status_code == 200
    assert second.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(again),
                       format="json").json() == {"state": "succeeded"}


def test_a_critical_fault_asks_for_its_units_to_move_at_once(
        api, image_file, two_agents, django_capture_on_commit_callbacks):
    first, _ = two_agents
    job, _ = running_on_first(api, image_file.path, first)
    taken_off("control")  # whatever earlier tests left there
    with django_capture_on_commit_callbacks(execute=True):
        answer = first.post(HEARTBEAT, {"gpus": [{"uuid": GPU["uuid"], "xids": [79]}]},
                            format="json").json()
    assert answer["gpus"][GPU["uuid"]] == {
        "serve": False, "reason": "the GPU is maintenance: XID 79: fallen off the bus"}
    assert (gpu().status, gpu().health) == ("maintenance", "critical")
    # The sweep is asked for now, not at the next beat.
    assert TaskName.FLEET_HEALTH.value in taken_off("control")
    assert fleet_health.apply().get()["moved"] == 1
    assert delivered(str(job.id), job.placement["queue"])


def taken_off(queue: str) -> list[str]:
    """The task names of the messages waiting on ``queue``, taken off it."""
    [declared] = [q for q in declared_queues() if q.name == queue]
    names = []
    with app.connection_for_read() as connection:
        inbox = connection.SimpleQueue(declared, no_ack=True)
        try:
            while True:
                try:
                    names.append(inbox.get(timeout=0.5).headers.get("task"))
                except inbox.Empty:
                    return names
        finally:
            inbox.close()


def test_a_job_submitted_while_its_only_gpu_is_offline_waits_for_it(api, image_file):
    """An agent restarting must not get the jobs submitted meanwhile refused:
    they queue for its GPU, stay there through the health rounds, and run when
    it is back."""
    first = as_agent(enroll().json()["credential"])
    fall_silent()
    assert fleet_health.apply().get()["offline"] == 1
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.state == "queued", job.error
    assert job.placement["code"] == "gpu_offline_queued"
    assert job.placement["choice"]["gpu_id"] == gpu().id
    # Nowhere better to go: the rounds leave it where it is, unsent twice.
    assert fleet_health.apply().get()["placed_again"] == 0
    assert not AuditEvent.objects.filter(action="job.failed_over").exists()

    assert first.post(HEARTBEAT, {"gpus": []}, format="json").status_code == 200
    assert gpu().status == GpuStatus.AVAILABLE
    [work] = delivered(str(job.id), job.placement["queue"])
    assert first.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, GPU["uuid"]),
                      format="json").status_code == 200

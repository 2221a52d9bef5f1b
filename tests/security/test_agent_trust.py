"""The four agent-trust holes of issue 12, each tried as an attacker would and
shown refused, with the audit event the refusal leaves.

1. A rented host's cloud token used to register as local hardware.
2. An agent reaching for a job it was not given: media, start, results, GPU.
3. An enrollment token used again; another agent's GPU UUID claimed.
4. Forged results: a report from another agent than the unit's holder, a
   result for an analysis the unit does not hold, a Celery ``finalize``
   message (the task no longer exists: results travel over HTTPS only).
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from aima_tasks.kernel.routing import TaskName
from aima_web.audit.models import AuditEvent
from aima_web.celery import app
from aima_web.fleet.models import Agent, EnrollmentToken, LocalGPU
from aima_web.fleet.services import create_enrollment_token, release
from aima_web.jobs.models import AnalysisResult, Job, SegmentResult
from aima_web.jobs.states import JobState
from tests.agent_api import (
    GPU,
    as_agent,
    delivered,
    enroll,
    reregister,
    result_body,
    start_body,
)
from tests.placing import run_to_queue
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db

OTHER_GPU = {**GPU, "uuid": "GPU-ATTACKER"}


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def queued(api, path, confidentiality: str = "internal") -> Job:
    return run_to_queue(submit(api, path, confidentiality=confidentiality).json()["id"])


# ----------------------------------------------------------------- 1. scope from the token


def test_a_cloud_token_cannot_register_a_local_agent(api, image_file):
    response = enroll(scope="cloud", claim="local", gpus=[OTHER_GPU], name="rented-host")
    assert response.status_code == 403
    assert "cannot make itself local" in response.json()["detail"]
    assert Agent.objects.count() == 0 and LocalGPU.objects.count() == 0
    [refused] = events("agent.registration_refused")
    assert refused.detail["claimed_scope"] == "local"
    # Without the claim it is enrolled, as what its token says: cloud, outside the local fleet.
    body = enroll(scope="cloud", gpus=[OTHER_GPU], name="rented-host").json()
    assert body["scope"] == "cloud" and body["queues"] == [
        "gpu.cloud.16", "gpu.cloud.24", "gpu.cloud.8"]
    assert LocalGPU.objects.count() == 0
    # A confidential job goes to local hardware only; this host never gets its media.
    enroll()  # a real local GPU for the job
    job = queued(api, image_file.path, confidentiality="confidential")
    assert job.placement["scope"] == "local"
    [work] = delivered(str(job.id), job.placement["queue"])
    rented = as_agent(body["credential"])
    assert rented.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work),
                       format="json").status_code == 403
    assert rented.get(f"/api/v1/agent-jobs/{job.id}/media/").status_code == 403
    assert {e.detail["reason"] for e in events("job.start_refused")} == {
        "confidential media is served to local agents only"}
    assert len(events("job.media_refused")) == 1


def test_an_agent_registering_again_cannot_change_its_scope():
    cloud = enroll(scope="cloud", gpus=[OTHER_GPU]).json()
    response = as_agent(cloud["credential"]).post(
        "/api/v1/agents/register/", {"name": "rented", "scope": "local", "gpus": [OTHER_GPU]},
        format="json")
    assert response.status_code == 403
    assert Agent.objects.get().scope == "cloud" and LocalGPU.objects.count() == 0


# ----------------------------------------------------------- 2. agents bound to their work


@pytest.fixture
def two_agents():
    """The local agent the job is placed for, and another local agent on another GPU."""
    holder = enroll().json()["credential"]
    other = enroll(gpus=[OTHER_GPU], name="gpu-host-2").json()["credential"]
    return as_agent(holder), as_agent(other)


def test_a_foreign_agent_gets_neither_media_nor_the_job(api, image_file, two_agents):
    holder, other = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    # Without the unit's ticket (it never received the message) another agent has nothing.
    assert other.get(f"/api/v1/agent-jobs/{job.id}/media/").status_code == 403
    forged = start_body(work, ticket="0" * 64)
    assert other.post(f"/api/v1/agent-jobs/{job.id}/start/", forged,
                      format="json").status_code == 403
    assert holder.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, "GPU-1234"),
                       format="json").status_code == 200
    # Still nothing for the other agent once the job runs: no media, no results.
    assert other.get(f"/api/v1/agent-jobs/{job.id}/media/").status_code == 403
    assert other.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(work),
                      format="json").status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and job.gpu.uuid == "GPU-1234"
    assert holder.get(f"/api/v1/agent-jobs/{job.id}/media/").status_code == 200
    assert [e.detail["reason"] for e in events("job.start_refused")] == [
        "this unit of work was not sent to this agent: its ticket does not match"]
    assert len(events("job.media_refused")) == 2 and len(events("job.result_refused")) == 1
    assert len(events("job.media_fetched")) == 1


def test_an_agent_cannot_run_work_on_another_agents_gpu(api, image_file, two_agents):
    _, other = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    # Even holding the ticket, it cannot name the holder's GPU as its own.
    response = other.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, "GPU-1234"),
                          format="json")
    assert response.status_code == 403
    assert "GPU-1234 is not one of this agent's GPUs" in response.json()["detail"]
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.gpu is None


def test_a_cloud_agent_cannot_take_work_placed_on_local_queues(api, image_file):
    enroll()
    rented = as_agent(enroll(scope="cloud", gpus=[OTHER_GPU]).json()["credential"])
    job = queued(api, image_file.path)  # internal: may go anywhere, but placed locally
    queue = job.placement["queue"]
    assert queue.startswith("gpu.local.")
    [work] = delivered(str(job.id), queue)
    response = rented.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work),
                           format="json")
    assert response.status_code == 403
    assert f"placed on {queue}, which this agent does not serve" in response.json()["detail"]


def test_a_redelivered_unit_passes_to_the_next_agent_and_the_first_ones_results_are_refused(
        api, image_file, two_agents):
    first, second = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    assert first.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work),
                      format="json").status_code == 200
    # A ticket alone does not take a unit from a holder that is alive: a host that
    # kept the ticket of a message it handed back cannot snatch the work.
    snatch = second.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work),
                         format="json")
    assert snatch.status_code == 403 and "is online" in snatch.json()["detail"]
    # The first agent died (no heartbeat since); the broker handed the message on.
    Agent.objects.filter(assignments__job=job).update(
        last_heartbeat=timezone.now() - timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S))
    assert second.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work),
                       format="json").status_code == 200
    assert len(events("job.unit_taken_over")) == 1
    late = first.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(work, {"late": 1}),
                      format="json")
    assert late.status_code == 403
    done = second.post(f"/api/v1/agent-jobs/{job.id}/results/", result_body(work),
                       format="json")
    assert done.status_code == 200 and done.json() == {"state": "succeeded"}
    stored = {r.analysis: r for r in AnalysisResult.objects.filter(job=job)}
    assert set(stored) == set(work.analyses)
    assert all(r.agent.credential_hash == second_agent(job).credential_hash
               for r in stored.values())


def second_agent(job: Job) -> Agent:
    return Agent.objects.get(assignments__job=job)


# ------------------------------------------------------------ 3. tokens and GPU identity


def test_an_enrollment_token_enrols_one_agent_only():
    _, secret = create_enrollment_token("one host")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    first = client.post("/api/v1/agents/register/", {"name": "a", "gpus": [GPU]}, format="json")
    assert first.status_code == 201
    again = client.post("/api/v1/agents/register/", {"name": "b", "gpus": [OTHER_GPU]},
                        format="json")
    assert again.status_code == 401 and "used up" in again.json()["detail"]
    token = EnrollmentToken.objects.get()
    assert Agent.objects.count() == 1 and token.uses == 1
    [refused] = events("enrollment.refused")
    assert refused.subject == f"enrollment:{token.pk}"
    assert (refused.detail["uses"], refused.detail["max_uses"]) == (1, 1)


def test_enrollment_tokens_expire_by_default(settings):
    call_command("aima_enroll", "--label", "cli", stdout=io.StringIO())
    # Every way to make one gives it the default lifetime unless told otherwise.
    for made in (create_enrollment_token("default")[0], EnrollmentToken.objects.get(label="cli")):
        lifetime = (made.expires_at - made.created_at).total_seconds()
        assert abs(lifetime - settings.AIMA_ENROLLMENT_TTL_S) < 60
        assert (made.scope, made.max_uses) == ("local", 1)
    call_command("aima_enroll", "--label", "short", "--expires-hours", "2", stdout=io.StringIO())
    short = EnrollmentToken.objects.get(label="short")
    assert abs((short.expires_at - short.created_at).total_seconds() - 7200) < 60


def test_another_agents_gpu_cannot_be_taken_over():
    victim = enroll().json()
    gpu_before = LocalGPU.objects.get()
    # An attacker with a valid token of its own reports the victim's GPU UUID.
    taker = enroll(gpus=[{**GPU, "model": "Fake 80GB", "vram_gb": 80}], name="attacker")
    assert taker.status_code == 403
    assert "belongs to agent" in taker.json()["detail"]
    gpu = LocalGPU.objects.get()
    assert (gpu.agent_id, gpu.model, gpu.vram_gb) == (victim["agent_id"], gpu_before.model, 24)
    # The victim's credential still works, and only its own samples touch its GPU.
    assert as_agent(victim["credential"]).post("/api/v1/agents/heartbeat/").status_code == 200
    assert Agent.objects.count() == 1  # the refused enrolment left no agent behind
    [refused] = events("agent.registration_refused")
    assert refused.detail["gpus"] == ["GPU-1234"]
    # Until an admin releases the GPU: then the next agent reporting it may register it.
    release(gpu, "user:admin")
    assert enroll(name="new-host").status_code == 201
    assert LocalGPU.objects.get().host == "new-host"


def test_heartbeat_samples_cannot_touch_another_agents_gpu():
    enroll()
    attacker = as_agent(enroll(gpus=[OTHER_GPU], name="attacker").json()["credential"])
    sample = {"uuid": "GPU-1234", "temperature_c": 199, "slowdown_temperature_c": 90,
              "utilization_pct": 100}
    assert attacker.post("/api/v1/agents/heartbeat/", {"gpus": [sample]},
                         format="json").status_code == 200
    victim = LocalGPU.objects.get(uuid="GPU-1234")
    assert victim.status == "available" and victim.telemetry.count() == 0


# ------------------------------------------------------------------ 4. forged results


def test_results_for_analyses_the_unit_does_not_hold_are_refused(api, image_file, two_agents):
    holder, _ = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    holder.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work), format="json")
    body = result_body(work)
    body["results"].append({**body["results"][0], "analysis": "transcript"})
    response = holder.post(f"/api/v1/agent-jobs/{job.id}/results/", body, format="json")
    assert response.status_code == 403 and "transcript" in response.json()["detail"]
    other_segment = result_body(work, segment=3)
    assert holder.post(f"/api/v1/agent-jobs/{job.id}/results/", other_segment,
                       format="json").status_code == 403
    assert SegmentResult.objects.filter(job=job).count() == 0
    job.refresh_from_db()
    assert job.state == JobState.RUNNING


def test_results_carry_the_gpu_the_unit_was_taken_on_not_the_one_claimed(api, image_file,
                                                                         two_agents):
    holder, _ = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    holder.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, "GPU-1234"),
                format="json")
    claimed = result_body(work, gpu_uuid="GPU-ATTACKER")
    assert holder.post(f"/api/v1/agent-jobs/{job.id}/results/", claimed,
                       format="json").status_code == 200
    assert set(AnalysisResult.objects.filter(job=job).values_list("gpu_uuid", flat=True)) == {
        "GPU-1234"}


def test_a_refusal_is_only_for_confidential_work_on_a_cloud_agent(api, image_file, two_agents):
    holder, other = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    # Even with the ticket, a local agent (or any agent, for internal work) cannot fail it.
    for agent in (holder, other):
        refusal = {**result_body(work), "status": "refused", "results": [], "errors": ["no"]}
        response = agent.post(f"/api/v1/agent-jobs/{job.id}/results/", refusal, format="json")
        assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    # A confidential unit that reached a cloud agent is refused by it, and fails the job.
    secret = queued(api, image_file.path, confidentiality="confidential")
    [unit] = delivered(str(secret.id), secret.placement["queue"])
    rented = as_agent(enroll(scope="cloud", gpus=[{**GPU, "uuid": "GPU-RENTED"}],
                             name="rented").json()["credential"])
    refusal = {**result_body(unit), "status": "refused", "results": [],
               "errors": ["confidential job refused by cloud agent"]}
    answer = rented.post(f"/api/v1/agent-jobs/{secret.id}/results/", refusal, format="json")
    assert answer.status_code == 200 and answer.json() == {"state": "failed"}
    secret.refresh_from_db()
    assert secret.state == JobState.FAILED and "refused by cloud agent" in secret.error
    assert [e.actor for e in events("job.refused")] == [
        f"agent:{Agent.objects.get(name='rented').pk}"]


def test_a_forged_refusal_without_the_ticket_cannot_fail_a_job(api, image_file, two_agents):
    _, other = two_agents
    job = queued(api, image_file.path)
    [work] = delivered(str(job.id), job.placement["queue"])
    forged = {**result_body(work), "status": "refused", "ticket": "f" * 64, "results": [],
              "errors": ["confidential job refused"]}
    assert other.post(f"/api/v1/agent-jobs/{job.id}/results/", forged,
                      format="json").status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.QUEUED


def test_finalize_is_no_longer_a_task_anyone_can_send():
    """The control worker consumes no results from the broker: there is no
    ``aima.finalize`` task whose message a host could forge."""
    app.loader.import_default_modules()
    assert "aima.finalize" not in app.tasks
    assert "aima.finalize" not in {name.value for name in TaskName}


def test_reregistration_with_a_stolen_but_revoked_credential_fails():
    first = enroll().json()
    second = reregister(first["credential"]).json()
    # The first credential died with the re-registration.
    assert reregister(first["credential"]).status_code == 401
    assert [e.subject for e in events("agent.auth_refused")] == ["agent:unknown"]
    # A flood of refused credentials from one address is one audit row a minute.
    for _ in range(5):
        assert as_agent("forged").post("/api/v1/agents/heartbeat/").status_code == 401
    assert len(events("agent.auth_refused")) == 1
    assert second["agent_id"] == first["agent_id"]

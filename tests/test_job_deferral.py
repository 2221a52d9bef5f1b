"""Off-peak deferral in the control plane: a job that runs cheaper on a local GPU
whose window opens in a few hours is held (state deferred, its record saying until
when, the saving and the deadline), released by the sweeper's round when its hour
has come, placed again and run by an agent; never an urgent or a confidential job,
never past its deadline; cancel works on a held job; the API takes a deadline and
refuses one that has passed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from aima_tasks.kernel.routing import CONTROL_QUEUE
from aima_web.audit.models import AuditEvent
from aima_web.fleet.models import LocalGPU
from aima_web.jobs import deferral, sweeper
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.jobs.tasks import place_task
from aima_web.placement.models import CloudOffer, OfferPrice, PlacementPolicy
from tests.agent_api import as_agent, delivered, enroll, result_body, start_body, taken_off
from tests.placing import run_to_queue, write_prices
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db

DEFERRED_CODE = "deferred_off_peak"


@pytest.fixture
def night_gpu(settings, tmp_path) -> str:
    """A local GPU whose window opens three full hours from now, cloud offers, a
    policy that lets no job wait an hour for a local GPU, and no least saving: a
    job placed now goes to the cloud, and is cheaper when the window opens."""
    settings.AIMA_DEFER_MIN_SAVING = 0.0
    call_command("aima_offers", "load", str(write_prices(tmp_path)), stdout=None)
    policy = PlacementPolicy.current()
    policy.max_local_wait_s = 1800
    policy.save()
    credential = enroll().json()["credential"]
    opens = (timezone.localtime() + timedelta(hours=3)).hour
    LocalGPU.objects.update(availability_schedule=f"daily {opens:02d}:00-{(opens + 6) % 24:02d}:00",
                            power_watts=0, purchase_price=0)
    return credential


def window_opens() -> datetime:
    now = timezone.localtime()
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)


def control_messages(job_id: str) -> list[str]:
    return [task for task, args in taken_off(CONTROL_QUEUE) if args == [job_id]]


def test_a_job_cheaper_at_night_is_held_released_and_run(api, admin_client, night_gpu,
                                                          image_file):
    job_id = submit(api, image_file.path).json()["id"]
    job = run_to_queue(job_id)
    assert job.state == JobState.DEFERRED
    record, until = job.placement, window_opens()
    assert (record["code"], record["placed"]) == (DEFERRED_CODE, False)
    assert job.deferred_until == until and job.deferred_at is not None
    held = record["deferral"]
    assert held["defer"] and held["code"] == DEFERRED_CODE
    assert datetime.fromisoformat(held["until"]) == until and held["saving"] > 0
    deadline = datetime.fromisoformat(held["deadline"])
    assert deadline == job.created_at + timedelta(hours=24)  # normal urgency's default
    assert until + timedelta(seconds=record["choice"]["duration_s"]) < deadline
    # What it is held for (the local GPU then), and what it would have cost now.
    assert record["choice"]["scope"] == "local"
    assert record["alternatives"][0]["scope"] == "cloud"
    assert record["alternatives"][0]["lost"] == "more_expensive"
    assert "Deferred to off-peak hours until" in record["reason"]
    assert AuditEvent.objects.filter(action="job.deferred", subject=f"job:{job_id}").exists()
    body = api.get(f"/api/v1/jobs/{job_id}/").json()
    assert body["state"] == "deferred"
    assert datetime.fromisoformat(body["deferred_until"].replace("Z", "+00:00")) == until
    admin = admin_client.get(f"/admin/jobs/job/{job_id}/change/").content.decode()
    assert "off-peak deferral" in admin and DEFERRED_CODE in admin
    listed = admin_client.get("/admin/jobs/job/").content.decode()
    assert "deferred until" in listed

    # A place task delivered again leaves it held.
    place_task.apply(args=(job_id,))
    again = Job.objects.get(pk=job_id)
    assert again.state == JobState.DEFERRED and again.placement == record

    # Not before its hour; then the sweeper's round sends place again, once.
    control_messages(job_id)
    assert deferral.release_due(until - timedelta(seconds=1)) == 0
    assert sweeper.sweep()["deferred released"] == 0
    # Its hour has come (the clock cannot be moved: the hour is moved instead).
    Job.objects.filter(pk=job_id).update(deferred_until=timezone.now() - timedelta(seconds=1))
    assert sweeper.sweep()["deferred released"] == 1
    assert deferral.release_due(until + timedelta(seconds=1)) == 0
    assert Job.objects.get(pk=job_id).state == JobState.PLACING
    assert control_messages(job_id).count("aima.place") == 1

    # The window has opened: placed on the local GPU, deferred once only.
    LocalGPU.objects.update(availability_schedule="24/7")
    place_task.apply(args=(job_id,))
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.QUEUED and job.placement["scope"] == "local"
    assert DEFERRED_CODE in job.placement["reasons"]
    [work] = delivered(job_id, job.placement["queue"])
    agent = as_agent(night_gpu)
    assert agent.post(f"/api/v1/agent-jobs/{job_id}/start/", start_body(work, "GPU-1234"),
                      format="json").status_code == 200
    assert agent.post(f"/api/v1/agent-jobs/{job_id}/results/", result_body(work),
                      format="json").status_code == 200
    assert Job.objects.get(pk=job_id).state == JobState.SUCCEEDED


@pytest.mark.parametrize("fields, verdict, scope", [
    ({"urgency": "high"}, "not_deferred_urgent", "cloud"),
    # It may not go to the cloud: it waits in its local GPU's queue instead.
    ({"confidentiality": "confidential"}, "not_deferred_confidential", "local"),
])
def test_urgent_and_confidential_jobs_are_never_deferred(api, night_gpu, image_file, fields,
                                                          verdict, scope):
    job = run_to_queue(submit(api, image_file.path, **fields).json()["id"])
    assert job.state == JobState.QUEUED and job.deferred_until is None
    assert job.placement["scope"] == scope
    assert job.placement["deferral"]["code"] == verdict
    assert DEFERRED_CODE not in job.placement["reasons"]


def test_no_job_is_held_past_its_deadline(api, night_gpu, image_file):
    # The window opens in three hours; the job is needed within two.
    soon = (timezone.now() + timedelta(hours=2)).isoformat()
    job = run_to_queue(submit(api, image_file.path, deadline=soon).json()["id"])
    assert job.state == JobState.QUEUED and job.placement["scope"] == "cloud"
    verdict = job.placement["deferral"]
    # Later hours in time exist, but only the cloud at today's price runs then.
    assert not verdict["defer"] and verdict["code"] == "not_deferred_not_cheaper"
    assert datetime.fromisoformat(verdict["deadline"]) == job.deadline


def test_the_policys_default_deadline_bounds_deferral(api, night_gpu, image_file, settings):
    settings.AIMA_DEADLINE_NORMAL_S = 2 * 3600
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.state == JobState.QUEUED and job.placement["scope"] == "cloud"
    assert not job.placement["deferral"]["defer"]
    assert datetime.fromisoformat(job.placement["deferral"]["deadline"]) == (
        job.created_at + timedelta(hours=2))
    settings.AIMA_DEADLINE_NORMAL_S = 0  # no default deadline: never deferred
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.placement["deferral"]["code"] == "not_deferred_no_deadline"


def test_a_held_job_can_be_cancelled_and_is_never_released(api, night_gpu, image_file):
    job_id = submit(api, image_file.path).json()["id"]
    assert run_to_queue(job_id).state == JobState.DEFERRED
    response = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert deferral.release_due(window_opens() + timedelta(hours=1)) == 0
    assert Job.objects.get(pk=job_id).state == JobState.CANCELLED


def test_the_api_takes_a_deadline_in_the_future_only(api, image_file):
    wanted = timezone.now() + timedelta(days=2)
    body = submit(api, image_file.path, deadline=wanted.isoformat()).json()
    assert datetime.fromisoformat(body["deadline"].replace("Z", "+00:00")) == wanted
    assert body["deferred_until"] is None
    for value in ((timezone.now() - timedelta(minutes=1)).isoformat(), "tomorrow"):
        response = submit(api, image_file.path, deadline=value)
        assert response.status_code == 400 and "deadline" in response.json()


def test_a_saving_under_the_least_worth_a_deferral_is_not_taken(api, night_gpu, image_file,
                                                                settings):
    settings.AIMA_DEFER_MIN_SAVING = 0.10  # the default; a picture costs cents in the cloud
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.state == JobState.QUEUED and job.placement["scope"] == "cloud"
    verdict = job.placement["deferral"]
    assert not verdict["defer"] and verdict["code"] == "not_deferred_not_cheaper"


def test_a_job_waits_for_the_hour_its_spot_price_is_low(api, settings, tmp_path, image_file):
    settings.AIMA_DEFER_MIN_SAVING = 0.0
    call_command("aima_offers", "load", str(write_prices(tmp_path)), stdout=None)
    cheapest = CloudOffer.objects.get(provider="vastai", instance_type="1x-RTX_4090")
    # Its spot price was low in the hour three hours from now, in each of the last weeks.
    until = window_opens()
    OfferPrice.objects.bulk_create(
        OfferPrice(key=cheapest.key, provider="vastai", gpu_model=cheapest.gpu_model,
                   price_per_hour=0.40, spot_price_per_hour=0.05,
                   priced_at=until + timedelta(minutes=10) - timedelta(weeks=week))
        for week in range(1, 5))
    job = run_to_queue(submit(api, image_file.path).json()["id"])
    assert job.state == JobState.DEFERRED and job.deferred_until == until
    record = job.placement
    assert record["code"] == DEFERRED_CODE and record["choice"]["spot"]
    assert record["choice"]["offer_id"] == cheapest.key
    assert record["choice"]["price_per_hour"] == pytest.approx(0.05)
    assert record["alternatives"][0]["offer_id"] == cheapest.key
    assert not record["alternatives"][0]["spot"]
    # High urgency may not run on spot: nothing to wait for.
    urgent = run_to_queue(submit(api, image_file.path, urgency="high").json()["id"])
    assert urgent.state == JobState.QUEUED

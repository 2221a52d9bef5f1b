"""A spot host's preemption notice at the control plane: its agent's unfinished
unit passes to the next host at once, on the trail and on the job as rework;
the host is cut off and its instance ends."""

from __future__ import annotations

import pytest

from aima_web.audit.models import AuditEvent
from aima_web.fleet import services as fleet
from aima_web.fleet.assignments import Unit
from aima_web.fleet.models import Assignment
from aima_web.instances import capacity, launching, upkeep
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs import services as jobs
from tests.agent_api import as_agent, enroll
from tests.test_instances import cloud, queued_cloud_job  # noqa: F401  (cloud: a fixture)

pytestmark = pytest.mark.django_db

NOTICE = {"action": "terminate", "time": "2026-12-02T10:00:00Z"}


def enrolled_instance() -> tuple[CloudInstance, fleet.Registration]:
    [instance_id] = capacity.ensure_capacity()
    return enrolled_instance_for(instance_id)


def test_a_preempted_host_hands_its_unit_to_the_next_one(cloud, api, video_file):  # noqa: F811
    job = queued_cloud_job(api, video_file)
    instance, first = enrolled_instance()
    unit = Unit(str(job.pk), 0, tuple(job.analyses))
    assert jobs.start_running(job, first.agent, unit, unit.ticket(), "")
    upkeep.job_started(first.agent.pk)

    answer = as_agent(first.credential).post("/api/v1/agents/preempted/", {"notice": NOTICE},
                                             format="json")
    assert answer.status_code == 200, answer.content
    [released] = answer.json()["handed_back"]
    assert released["job_id"] == str(job.pk) and released["segment"] == 0
    assert sorted(released["analyses"]) == sorted(job.analyses)
    assert released["seconds_lost"] >= 0

    # Nobody holds the unit; the host is cut off; its instance is ending, saying why.
    assert Assignment.objects.get(job=job).agent is None
    assert as_agent(first.credential).post("/api/v1/agents/heartbeat/", {},
                                           format="json").status_code == 401
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATING
    assert instance.error == "spot preemption notice: terminate at 2026-12-02T10:00:00Z"
    assert AuditEvent.objects.filter(action="instance.preempted",
                                     subject=f"instance:{instance.pk}").exists()
    # The job still runs, on no live host: another instance is wanted for it.
    [_replacement] = capacity.ensure_capacity()

    # The next host presents the unit's ticket and takes it at once, not after
    # the first is lost by its silence.
    _, second = enrolled_instance_for(_replacement)
    assert jobs.start_running(job, second.agent, unit, unit.ticket(), "")
    assert Assignment.objects.get(job=job).agent_id == second.agent.pk
    rework = api.get(f"/api/v1/jobs/{job.pk}/").json()["rework"]
    assert rework == {"units_handed_back": 1, "seconds_lost": released["seconds_lost"]}


def test_a_notice_with_no_unit_in_hand_only_ends_the_instance(cloud, api,  # noqa: F811
                                                              video_file):
    queued_cloud_job(api, video_file)
    instance, first = enrolled_instance()
    answer = as_agent(first.credential).post("/api/v1/agents/preempted/", {"notice": {}},
                                             format="json")
    assert answer.status_code == 200 and answer.json() == {"handed_back": []}
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATING
    assert instance.error == "spot preemption notice: terminate at an unknown time"


def test_only_an_agent_may_say_it_is_preempted(api):
    assert api.post("/api/v1/agents/preempted/", {"notice": NOTICE},
                    format="json").status_code in (401, 403)


def enrolled_instance_for(instance_id: int) -> tuple[CloudInstance, fleet.Registration]:
    """The instance launched, and its agent enrolled with a GPU of its class."""
    launching.launch(instance_id)
    instance = CloudInstance.objects.get(pk=instance_id)
    gpu = fleet.ReportedGpu(uuid=f"GPU-{instance.name}", model="Cloud 24", vram_gb=24,
                            cuda_version="12.4", simulated=True)
    return instance, fleet.enrol(instance.enrollment_token, name=instance.name,
                                 version="test", gpus=[gpu])


def test_a_local_agent_cannot_claim_a_preemption():
    """Local hardware has no spot notices: a local agent (or a host posing as one)
    releasing its units and cutting itself off is refused, and nothing changes."""
    credential = enroll().json()["credential"]
    answer = as_agent(credential).post("/api/v1/agents/preempted/", {"notice": NOTICE},
                                       format="json")
    assert answer.status_code == 403, answer.content
    assert as_agent(credential).post("/api/v1/agents/heartbeat/", {},
                                     format="json").status_code == 200
    assert not AuditEvent.objects.filter(action="job.unit_handed_back").exists()

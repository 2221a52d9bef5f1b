"""A GCP or Azure host's agent sees its provider's preemption notice and hands
its unit back through the control plane, as an AWS host does: the agent's own
HostEnd (what ``agents run`` starts) polls a fake of the cloud's metadata
service and tells a live control plane, which releases the unit for the next
host and ends the instance."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agents.control_plane import ControlPlane
from agents.runner import HostEnd
from agents.supervisor import Workers
from agents.worker import AgentContext
from aima_tasks.kernel.routing import Scope
from aima_web.fleet.assignments import Unit
from aima_web.fleet.models import Assignment
from aima_web.instances import capacity, upkeep
from aima_web.instances.models import InstanceState
from aima_web.jobs import services as jobs
from tests.agents.fake_azure import FakeAzure
from tests.agents.fake_gcp import FakeGcp
from tests.test_instances import cloud, queued_cloud_job  # noqa: F401  (cloud: a fixture)
from tests.test_preemption import enrolled_instance_for

# Long enough for the hand-back (about a second) on a slow machine.
TOLD_WITHIN_S = 30


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["gcp", "azure"])
def test_a_gcp_or_azure_notice_hands_the_unit_back(provider: str, cloud,  # noqa: F811
                                                   api, video_file, live_server,
                                                   monkeypatch, tmp_path: Path) -> None:
    job = queued_cloud_job(api, video_file)
    [instance_id] = capacity.ensure_capacity()
    instance, host = enrolled_instance_for(instance_id)
    unit = Unit(str(job.pk), 0, tuple(job.analyses))
    assert jobs.start_running(job, host.agent, unit, unit.ticket(), "")
    upkeep.job_started(host.agent.pk)

    fake = FakeGcp() if provider == "gcp" else FakeAzure()
    with fake:
        # What the cloud's provider puts in the host's boot environment.
        monkeypatch.setenv("AIMA_PREEMPTION_NOTICES", provider)
        monkeypatch.setenv("AIMA_SHUTDOWN", provider)
        monkeypatch.setenv("AIMA_METADATA_URL", fake.url)
        monkeypatch.setenv("AIMA_PREEMPTION_POLL_S", "0.05")
        end = HostEnd.of(Scope.CLOUD)
        control_plane = ControlPlane(live_server.url, credential=host.credential)
        context = AgentContext(control_plane=control_plane, agent_id=host.agent.pk,
                               scope=Scope.CLOUD, gpu_uuid="", workdir=tmp_path)
        stop = threading.Event()
        end.start_watch(control_plane, Workers(context, [], instance.name), stop)
        if isinstance(fake, FakeGcp):
            fake.preempted = True
        else:
            fake.schedule("Preempt")
        told = end.told.wait(TOLD_WITHIN_S)
        stop.set()
    assert told and end.noticed
    # The unit is nobody's: the next host takes it at once; this one ends.
    assert Assignment.objects.get(job=job).agent is None
    instance.refresh_from_db()
    assert instance.state == InstanceState.TERMINATING
    assert instance.error.startswith("spot preemption notice: preempt at 20")

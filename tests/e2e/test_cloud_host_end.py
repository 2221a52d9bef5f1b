"""A rented host ends early, and nothing is lost: its agent ends it itself once
the control plane is gone (no host outlives its control plane), and a spot
preemption notice hands its unfinished unit to another host at once, the
rework reported on the job. The `subprocess` provider rents the hosts; a fake
EC2 metadata service posts the notice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from agents import samples
from devtools.processes import http_up, wait_for
from providers.base import InstanceState
from providers.subprocess import SubprocessProvider
from tests.agents.fake_imds import FakeImds
from tests.e2e import cloud

pytestmark = pytest.mark.e2e

SELF_SHUTDOWN_S = 6
# Long enough that its analysis takes a few seconds: time for a notice to land.
LONG_SCENES = (((200, 40, 40), 60.0), ((40, 170, 70), 60.0))


def test_a_host_ends_itself_once_the_control_plane_is_gone(own_database_url: str,
                                                           cloud_broker, tmp_path: Path):
    instances = tmp_path / "instances"
    stack = cloud.start(own_database_url, tmp_path, cloud_broker,
                        AIMA_SELF_SHUTDOWN_AFTER_S=str(SELF_SHUTDOWN_S),
                        AIMA_AGENT_COMMAND="python -m agents run --heartbeat 1",
                        # Neither idle nor silent hosts end by the control plane's hand here.
                        AIMA_IDLE_GRACE_S="600", AIMA_AGENT_OFFLINE_AFTER_S="600")
    try:
        api = stack.api
        video = samples.write_video(tmp_path / "clip.mp4")
        job = api.wait(api.submit(video.path, confidentiality="public")["id"], timeout_s=180)
        assert job["state"] == "succeeded", job["error"]
        [host] = cloud.records(instances)
        # Its heartbeats are answered: it stays up past its self-shutdown time.
        time.sleep(SELF_SHUTDOWN_S + 2)
        assert cloud.running(host["pid"])

        control_plane = [p for p in stack.supervisor.processes
                         if p.name in ("web", "control-worker")]
        for process in control_plane:
            stack.supervisor.stop(process, signal.SIGKILL)
        killed = time.monotonic()
        cloud.wait_until("the host to end itself", lambda: not cloud.running(host["pid"]),
                         timeout_s=SELF_SHUTDOWN_S + 30, every_s=0.2)
        # Its time, a heartbeat, and the hand-back of its (no) unit.
        assert time.monotonic() - killed < SELF_SHUTDOWN_S + 12
        provider = SubprocessProvider({"state_dir": str(instances)})
        assert provider.describe(host["instance_id"]).state == InstanceState.TERMINATED
        [record] = cloud.records(instances)
        assert record["terminated"] and record["ended_at"]

        # The control plane, back, finds it gone and bills it to its end.
        for process in control_plane:
            stack.supervisor.processes.remove(process)
        stack.supervisor.start_web(int(stack.base_url.rsplit(":", 1)[1]))
        stack.supervisor.start_control_worker(beat=True)
        wait_for("the web server", http_up(f"{stack.base_url}/api/schema/"), 60)
        [ended] = cloud.all_ended(api, timeout_s=90)
        assert ended["state"] == "terminated" and ended["cost"] > 0
    finally:
        cloud.stop(stack, tmp_path)


def test_a_spot_notice_hands_the_unit_to_another_host(own_database_url: str, cloud_broker,
                                                      tmp_path: Path):
    instances = tmp_path / "instances"
    with FakeImds() as imds:
        stack = cloud.start(own_database_url, tmp_path, cloud_broker,
                            AIMA_SUBPROCESS_METADATA_URL=imds.url,
                            AIMA_AGENT_COMMAND="env AIMA_PREEMPTION_POLL_S=0.5 "
                                               "python -m agents run --heartbeat 1",
                            AIMA_IDLE_GRACE_S="2")
        try:
            api = stack.api
            video = samples.write_video(tmp_path / "long.mp4", scenes=LONG_SCENES, fps=25,
                                        size=(640, 360)).path
            submitted = api.submit(video, confidentiality="public")
            cloud.wait_until("the job to run on the first host", lambda: api.get(
                f"/api/v1/jobs/{submitted['id']}/")["state"] == "running", timeout_s=120,
                every_s=0.05)
            [first] = cloud.records(instances)
            notice = imds.preempt(first["instance_id"])

            job = api.wait(submitted["id"], timeout_s=240)
            assert job["state"] == "succeeded", job["error"]
            # Its one unit was handed back unfinished (rejected, requeued), and redone.
            log = (instances / f"{first['instance_id']}.log").read_text()
            assert "handing the unit back after" in log, log[-3000:]
            assert job["rework"]["units_handed_back"] == 1
            assert job["rework"]["seconds_lost"] > 0
            report = api.get(f"/api/v1/jobs/{submitted['id']}/report/")
            assert report["job"]["rework"] == job["rework"]
            ended = {i["provider_instance_id"]: i for i in cloud.all_ended(api)}
            preempted = ended[first["instance_id"]]
            assert preempted["state"] == "terminated"
            assert preempted["error"] == (f"spot preemption notice: terminate at "
                                          f"{notice['time']}")
            # Another host finished it; that one saw no notice.
            [finisher] = [i for i in ended.values() if i["agent"] == job["agent"]["id"]]
            assert finisher["provider_instance_id"] != first["instance_id"]
            assert imds.polls.get(finisher["provider_instance_id"], 0) > 0
            assert not any(cloud.running(r["pid"]) for r in cloud.records(instances))
        finally:
            cloud.stop(stack, tmp_path)

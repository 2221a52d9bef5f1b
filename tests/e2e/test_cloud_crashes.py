"""Renting when things break: the control worker killed in the middle of a
launch, a host whose agent never registers, a spend cap reached. Each ends
with every job served and nothing left running at the provider."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agents import samples
from devtools import stack as local_stack
from devtools.processes import Process
from tests.e2e import cloud

pytestmark = pytest.mark.e2e

PRICE = 0.72


@pytest.fixture
def start_cloud(own_database_url: str, cloud_broker, tmp_path: Path) -> Iterator[
        Callable[..., tuple[local_stack.Stack, Path]]]:
    """Starts a stack with the given settings on a database of its own, and
    stops it after the test."""
    started: list[local_stack.Stack] = []

    def start(**settings: str) -> tuple[local_stack.Stack, Path]:
        running = cloud.start(own_database_url, tmp_path, cloud_broker,
                              AIMA_SUBPROCESS_PRICE_PER_HOUR=str(PRICE), AIMA_IDLE_GRACE_S="2",
                              **settings)
        started.append(running)
        return running, tmp_path / "instances"

    yield start
    for running in started:
        cloud.stop(running, tmp_path)


def test_control_worker_killed_during_a_launch(start_cloud, tmp_path: Path):
    stack, instances = start_cloud(AIMA_SUBPROCESS_LAUNCH_DELAY_S="4", AIMA_LAUNCH_TIMEOUT_S="8")
    api = stack.api
    video = samples.write_video(tmp_path / "clip.mp4")
    submitted = api.submit(video.path, confidentiality="public")
    # The provider has started the host, and is still answering the launch call.
    cloud.wait_until("a host started by a launch still under way", lambda: cloud.records(
        instances) and [i for i in api.get("/api/v1/instances/")["results"]
                        if i["state"] == "provisioning"], timeout_s=60, every_s=0.1)
    worker = control_worker(stack)
    stack.supervisor.stop(worker, signal.SIGKILL)
    assert worker.popen.returncode == -signal.SIGKILL
    stack.supervisor.start_control_worker(beat=True)

    job = api.wait(submitted["id"], timeout_s=180)
    assert job["state"] == "succeeded", job["error"]
    ended = cloud.all_ended(api)
    # One host, served by one instance: the launch cut short was not repeated.
    [host] = cloud.records(instances)
    [served] = [i for i in ended if i["agent"] == job["agent"]["id"]]
    assert served["provider_instance_id"] == host["instance_id"]
    assert served["state"] == "terminated" and served["cost"] > 0
    assert not cloud.running(host["pid"])


def test_an_agent_that_never_registers(start_cloud, tmp_path: Path):
    stack, instances = start_cloud(AIMA_SUBPROCESS_NEVER_REGISTER_SHARE="0.5",
                                   AIMA_SUBPROCESS_FAIL_SEED="9",  # the first host is broken
                                   AIMA_BOOT_TIMEOUT_S="10")
    api = stack.api
    video = samples.write_video(tmp_path / "clip.mp4")
    job = api.wait(api.submit(video.path, confidentiality="public")["id"], timeout_s=180)
    assert job["state"] == "succeeded", job["error"]
    ended = cloud.all_ended(api)
    failed = [i for i in ended if i["state"] == "failed"]
    assert failed and all("did not register within 10 s" in i["error"] for i in failed)
    # The broken host was billed for its boot, and given back.
    assert all(i["cost"] > 0 for i in failed)
    assert [i["state"] for i in ended if i["agent"] == job["agent"]["id"]] == ["terminated"]
    assert not any(cloud.running(r["pid"]) for r in cloud.records(instances))


def test_a_spend_cap_reached(start_cloud, tmp_path: Path):
    stack, instances = start_cloud(AIMA_MAX_SPEND_PER_HOUR="1.0")  # one instance at 0.72
    api = stack.api
    video = samples.write_video(tmp_path / "clip.mp4")
    submitted = [api.submit(video.path, confidentiality="public") for _ in range(3)]
    reasons = cloud.wait_until("a job held by the spend cap", lambda: [
        j["wait_reason"] for j in (api.get(f"/api/v1/jobs/{s['id']}/") for s in submitted)
        if "AIMA_MAX_SPEND_PER_HOUR" in j["wait_reason"]], timeout_s=60)
    assert "one more would pass the cap of 1.00" in reasons[0]
    jobs = [api.wait(s["id"], timeout_s=180) for s in submitted]
    assert all(job["state"] == "succeeded" for job in jobs), [j["error"] for j in jobs]
    # All three ran on the one instance the cap allowed.
    [instance] = cloud.all_ended(api)
    assert {job["agent"]["id"] for job in jobs} == {instance["agent"]}
    assert not any(cloud.running(r["pid"]) for r in cloud.records(instances))


def control_worker(stack: local_stack.Stack) -> Process:
    return next(p for p in stack.supervisor.processes
                if p.name == "control-worker" and p.alive())

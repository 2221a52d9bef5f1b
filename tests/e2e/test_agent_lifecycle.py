"""The agent as a real process: one worker per GPU, killed mid-task, stopped
mid-task, started again. Each test has a stack and a database of its own."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agents import samples
from aima_tasks import broker
from aima_tasks.kernel.analyses import catalogue
from devtools import stack as local_stack
from devtools.processes import Process
from tests.e2e import cloud

pytestmark = pytest.mark.e2e

BIG, SMALL = "E2E Big (simulated):24", "E2E Small (simulated):8"
# Long enough that its analysis takes a few seconds: time to act while it runs.
LONG_SCENES = (((200, 40, 40), 60.0), ((40, 170, 70), 60.0))


@pytest.fixture
def long_video(tmp_path: Path) -> Path:
    return samples.write_video(tmp_path / "long.mp4", scenes=LONG_SCENES, fps=25,
                               size=(640, 360)).path


def test_one_worker_process_per_gpu_each_on_its_own_queues(start_stack, tmp_path: Path):
    stack = start_stack(f"{BIG},{SMALL}")
    [agent] = agents(stack)
    # Started once the agent has registered: the stack only waits for that.
    cloud.wait_until("a worker per GPU", lambda: len(gpu_workers(agent.popen.pid)) == 2,
                     timeout_s=30)
    gpus = {g["model"]: g for g in stack.api.get("/api/v1/gpus/")["results"]}
    assert set(gpus) == {"E2E Big (simulated)", "E2E Small (simulated)"}
    assert gpus["E2E Big (simulated)"]["agent"]["id"] == gpus["E2E Small (simulated)"]["agent"][
        "id"]
    # Video needs the 24 GB class: only the big GPU's worker consumes that queue.
    video = samples.write_video(tmp_path / "clip.mp4")
    for _ in range(2):
        job = stack.api.wait(stack.api.submit(video.path)["id"], timeout_s=120)
        assert job["state"] == "succeeded", job["error"]
        assert job["gpu"]["id"] == gpus["E2E Big (simulated)"]["id"]


# With heartbeats every 2 s, an agent killed is lost after this long (seconds).
LOST_AFTER_S = "6"

# The embedded broker neither holds back a busy worker's next message nor gives
# back an unacknowledged one: stopping and killing mid-task need RabbitMQ.
needs_rabbitmq = pytest.mark.skipif(broker.is_embedded(broker.broker_url()),
                                    reason="needs RabbitMQ's acknowledgements; CI has it")


@needs_rabbitmq
def test_an_agent_killed_mid_task_loses_nothing(start_stack, long_video: Path):
    # Its task passes to another agent once it is lost: no heartbeat for this long.
    stack = start_stack(BIG, AIMA_AGENT_OFFLINE_AFTER_S=LOST_AFTER_S)
    [agent] = agents(stack)
    workers = gpu_workers(agent.popen.pid)
    submitted = stack.api.submit(long_video)
    wait_for_state(stack, submitted["id"], "running")
    os.kill(agent.popen.pid, signal.SIGKILL)
    agent.popen.wait(10)
    # Its workers went with it: nothing runs on with the task.
    cloud.wait_until("the workers to die with the agent", lambda: not any(
        cloud.running(pid) for pid in workers), timeout_s=10, every_s=0.1)
    assert stack.api.get(f"/api/v1/jobs/{submitted['id']}/")["state"] == "running"
    # The broker gives the unacknowledged task to the agent that comes next.
    replacement = start_agent(stack, BIG, "agent-2")
    job = stack.api.wait(submitted["id"], timeout_s=180)
    assert job["state"] == "succeeded", job["error"]
    assert replacement.alive()


@needs_rabbitmq
def test_sigterm_finishes_the_task_at_hand_and_takes_no_more(start_stack, long_video: Path):
    stack = start_stack(BIG)
    [agent] = agents(stack)
    first = stack.api.submit(long_video)
    wait_for_state(stack, first["id"], "running")
    os.kill(agent.popen.pid, signal.SIGTERM)
    second = stack.api.submit(long_video)
    assert agent.popen.wait(120) == 0
    job = stack.api.get(f"/api/v1/jobs/{first['id']}/")
    assert job["state"] == "succeeded", job["error"]
    assert job["agent"]["id"] == first_agent_id(stack)
    # Submitted after the stop: it waits for an agent, untouched.
    time.sleep(2)
    assert stack.api.get(f"/api/v1/jobs/{second['id']}/")["state"] == "queued"


def test_an_agent_started_again_is_the_same_agent(start_stack, tmp_path: Path):
    stack = start_stack(BIG)
    [agent] = agents(stack)
    before = first_agent_id(stack)
    assert stack.api.get("/api/v1/gpus/")["results"][0]["performance_profile"] == {}
    stack.supervisor.stop(agent)
    # The same host name and GPU: it comes back with the credential it kept (the
    # fresh token stays unused); benchmarked this time.
    start_agent(stack, BIG, "agent", "--benchmark")
    [gpu] = cloud.wait_until("the agent registered again", lambda: [
        g for g in stack.api.get("/api/v1/gpus/")["results"] if g["performance_profile"]])
    assert gpu["agent"]["id"] == before and gpu["agent"]["online"]
    assert set(gpu["performance_profile"]) == set(catalogue().specs)
    # A simulated GPU's raw figures are this host's CPU's, and say so.
    assert gpu["compute_benchmark"]["device"] == "cpu"
    assert gpu["compute_benchmark"]["fp32_tflops"] > 0
    video = samples.write_video(tmp_path / "clip.mp4")
    job = stack.api.wait(stack.api.submit(video.path)["id"], timeout_s=120)
    assert job["state"] == "succeeded" and job["agent"]["id"] == before


@needs_rabbitmq
def test_a_drained_gpu_finishes_its_task_then_takes_no_more_until_resumed(
        start_stack, long_video: Path, tmp_path: Path):
    stack = start_stack(BIG)
    [agent] = agents(stack)
    [gpu] = stack.api.get("/api/v1/gpus/")["results"]
    first = stack.api.submit(long_video)
    wait_for_state(stack, first["id"], "running")
    second = stack.api.submit(samples.write_video(tmp_path / "clip.mp4").path)
    wait_for_state(stack, second["id"], "queued")  # placed on the GPU, behind the first
    assert stack.api.send("POST", f"/api/v1/gpus/{gpu['id']}/drain/")["status"] == "maintenance"
    # Its worker finishes the job at hand, then stops; the agent stays up.
    cloud.wait_until("the GPU's worker to stop", lambda: not gpu_workers(agent.popen.pid),
                     timeout_s=120)
    assert stack.api.get(f"/api/v1/jobs/{first['id']}/")["state"] == "succeeded"
    assert agent.alive()
    assert_taken_up_only_after(stack, second["id"], lambda: stack.api.send(
        "POST", f"/api/v1/gpus/{gpu['id']}/resume/"))


def test_outside_its_window_a_gpu_takes_no_work(start_stack, tmp_path: Path):
    stack = start_stack(BIG)
    [agent] = agents(stack)
    [gpu] = stack.api.get("/api/v1/gpus/")["results"]
    now = datetime.now()  # the stack's time zone is the test's: UTC unless set
    later = f"daily {now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    stack.api.send("PATCH", f"/api/v1/gpus/{gpu['id']}/", {"availability_schedule": later})
    cloud.wait_until("the GPU's worker to stop", lambda: not gpu_workers(agent.popen.pid),
                     timeout_s=60)
    # Placed on the GPU, to start when its window opens.
    waiting = stack.api.submit(samples.write_video(tmp_path / "clip.mp4").path)
    wait_for_state(stack, waiting["id"], "queued")
    assert_taken_up_only_after(stack, waiting["id"], lambda: stack.api.send(
        "PATCH", f"/api/v1/gpus/{gpu['id']}/", {"availability_schedule": "24/7"}))


def assert_taken_up_only_after(stack: local_stack.Stack, job_id: str,
                               reopen: Callable[[], object]) -> None:
    """A queued job stays queued, and runs once ``reopen`` is done."""
    time.sleep(6)  # three heartbeats
    assert stack.api.get(f"/api/v1/jobs/{job_id}/")["state"] == "queued"
    reopen()
    job = stack.api.wait(job_id, timeout_s=120)
    assert job["state"] == "succeeded", job["error"]


def agents(stack: local_stack.Stack) -> list[Process]:
    return [p for p in stack.supervisor.processes if p.name.startswith("agent") and p.alive()]


def gpu_workers(pid: int) -> list[int]:
    """The agent's worker processes (spawned; not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def first_agent_id(stack: local_stack.Stack) -> int:
    [gpu] = stack.api.get("/api/v1/gpus/")["results"]
    return gpu["agent"]["id"]


def wait_for_state(stack: local_stack.Stack, job_id: str, state: str) -> None:
    cloud.wait_until(f"job {job_id} {state}", lambda: stack.api.get(
        f"/api/v1/jobs/{job_id}/")["state"] == state, timeout_s=60, every_s=0.05)


def start_agent(stack: local_stack.Stack, gpus: str, name: str, *extra: str) -> Process:
    token = local_stack.manage(stack.supervisor.env, "aima_enroll", "--label", name)
    return stack.supervisor.start_agent(stack.base_url, token, gpus, name=name,
                                        extra=("--heartbeat", "2", *extra))

"""A silent agent, as real processes: the agent and its GPU worker stopped
(SIGSTOP, a hung host) mid-task. Its GPU leaves placement once it has been
silent for AIMA_AGENT_OFFLINE_AFTER_S, its running unit finishes on another
agent, its late result is refused when it wakes, and its GPU comes back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from agents import samples
from tests.e2e import cloud
from tests.e2e.test_agent_lifecycle import (
    BIG,
    LONG_SCENES,
    agents,
    gpu_workers,
    needs_rabbitmq,
    start_agent,
    wait_for_state,
)

pytestmark = [pytest.mark.e2e, needs_rabbitmq]

LOST_AFTER_S = 6
# Heartbeats every 2 s; the fleet health task every second.
SETTINGS = {"AIMA_AGENT_OFFLINE_AFTER_S": str(LOST_AFTER_S), "AIMA_FLEET_HEALTH_S": "1"}


def test_a_silent_agents_job_finishes_elsewhere_and_its_gpu_comes_back(start_stack,
                                                                       tmp_path: Path):
    video = samples.write_video(tmp_path / "long.mp4", scenes=LONG_SCENES, fps=25,
                                size=(640, 360)).path
    stack = start_stack(BIG, beat=True, **SETTINGS)
    [first] = agents(stack)
    # Another host: a name and a work folder (its credential) of its own.
    second = start_agent(stack, BIG, "agent-2", "--name", "host-2", "--workdir",
                         str(tmp_path / "host-2"))
    cloud.wait_until("two GPUs", lambda: len(stack.api.get("/api/v1/gpus/")["results"]) == 2)
    # The light analyses a job runs by default take a few seconds of this video: done
    # before the agent is frozen, sometimes. Faces (2 frames a second through the face
    # detector) keep the holder busy well past the freeze.
    submitted = stack.api.submit(video, analyses=["shots", "loudness", "faces"])
    wait_for_state(stack, submitted["id"], "running")
    holder_gpu = stack.api.get(f"/api/v1/jobs/{submitted['id']}/")["gpu"]["id"]
    gpus = {g["id"]: g for g in stack.api.get("/api/v1/gpus/")["results"]}
    holder, other = ((second, first) if gpus[holder_gpu]["agent"]["name"] == "host-2"
                     else (first, second))
    frozen = [holder.popen.pid, *gpu_workers(holder.popen.pid)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        cloud.wait_until("the silent agent's GPU offline", lambda: gpu_status(
            stack, holder_gpu) == "offline", timeout_s=LOST_AFTER_S + 10, every_s=0.2)
        assert time.monotonic() - stopped_at < LOST_AFTER_S + 5
        job = stack.api.wait(submitted["id"], timeout_s=180)
        assert job["state"] == "succeeded", job["error"]
        assert job["gpu"]["id"] != holder_gpu and other.alive()
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # It wakes: its GPU is back on its next heartbeat, and the unit it finished
    # late is refused (its assignment passed to the other agent).
    cloud.wait_until("the GPU back", lambda: gpu_status(stack, holder_gpu) == "available",
                     timeout_s=20)
    cloud.wait_until("the late result refused", lambda: "refused its outcome" in
                     holder.tail(200), timeout_s=120)
    assert stack.api.get(f"/api/v1/jobs/{submitted['id']}/")["state"] == "succeeded"


def gpu_status(stack, gpu_id: int) -> str:
    return stack.api.get(f"/api/v1/gpus/{gpu_id}/")["status"]

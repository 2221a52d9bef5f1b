"""An idle cloud instance is paused rather than terminated when work of its
class is expected, resumed for the next job faster than a fresh launch boots,
and terminated after the pause grace; its bill counts the paused time at the
storage price. Web, control worker (with its beat) and agents as real
processes; the `subprocess` provider, with pause support, starts the cloud
agent as a real process and stops and restarts it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from agents import samples
from devtools import stack as local_stack
from tests import rabbitmq_node
from tests.e2e import cloud

pytestmark = pytest.mark.e2e

PRICE = 0.72
# 40 GB of disk at 0.365 per GB and month: 0.02 per hour paused.
STORAGE_GB_MONTH = 0.365
PAUSED_PRICE = 40 * STORAGE_GB_MONTH / 730
# A fresh host boots for 10 s before its agent starts; a resumed one for 0.5 s.
BOOT_DELAY_S = 10
RESUME_DELAY_S = 0.5
PAUSE_GRACE_S = 90


@dataclass
class Running:
    stack: local_stack.Stack
    folder: Path


@pytest.fixture(scope="module")
def pausing_stack(database_url: str, cloud_broker: rabbitmq_node.Node | None,
                  tmp_path_factory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("pause")
    running = cloud.start(
        database_url, folder, cloud_broker, AIMA_SUBPROCESS_GPU="Cloud Sim A10:24",
        AIMA_SUBPROCESS_PRICE_PER_HOUR=str(PRICE), AIMA_SUBPROCESS_PAUSE_SUPPORT="1",
        AIMA_SUBPROCESS_BOOT_DELAY_S=str(BOOT_DELAY_S),
        AIMA_SUBPROCESS_RESUME_DELAY_S=str(RESUME_DELAY_S),
        AIMA_SUBPROCESS_STORAGE_PRICE_GB_MONTH=str(STORAGE_GB_MONTH),
        # One instance serves every job: the second job waits for it, not a second one.
        AIMA_MAX_INSTANCES_PER_CLASS="1",
        AIMA_IDLE_GRACE_S="3", AIMA_PAUSE_GRACE_S=str(PAUSE_GRACE_S))
    yield Running(running, folder)
    cloud.stop(running, folder)


def test_an_idle_instance_is_paused_resumed_for_the_next_job_and_ended_after_the_grace(
        pausing_stack: Running, tmp_path: Path):
    api = pausing_stack.stack.api
    video = samples.write_video(tmp_path / "clip.mp4")
    # Two jobs at once (one instance takes both, one after the other): the
    # history that has the idle policy expect more work of the class.
    first, second = (api.submit(video.path, confidentiality="public") for _ in range(2))
    first, second = (finished(api, job["id"]) for job in (first, second))
    assert first["agent"]["id"] == second["agent"]["id"]
    paused = cloud.wait_until("the idle instance to be paused", lambda: only_instance(
        api, "paused"), timeout_s=60)
    decision = paused["idle_decision"]
    assert decision["action"] == "pause", decision
    assert decision["pause_cost"] < decision["relaunch_cost"]
    # Its host's process is gone; its record and folder stay.
    [record] = cloud.records(pausing_stack.folder / "instances")
    assert record["paused"] and not cloud.running(record["pid"])

    # The next job resumes it: the same instance, the same agent (its kept identity).
    third = run(api, video.path)
    assert third["agent"]["id"] == first["agent"]["id"]
    [instance] = api.get("/api/v1/instances/")["results"]
    assert instance["id"] == paused["id"] and instance["resumed_at"]

    ended = cloud.wait_until("the paused instance to end after the pause grace", lambda:
                             only_instance(api, "terminated"), timeout_s=PAUSE_GRACE_S + 90)
    trail = audit_trail(pausing_stack)
    subject = f"instance:{ended['id']}"
    [ready] = [e for e in trail if e["action"] == "instance.ready" and e["subject"] == subject]
    resumed = [e for e in trail if e["action"] == "instance.resumed" and e["subject"] == subject]
    assert resumed, "the instance was never resumed"
    # Ready again after its resume sooner than its fresh launch was ready.
    assert max(e["detail"]["resume_s"] for e in resumed) < ready["detail"]["boot_s"]
    [terminated] = [e for e in trail if e["action"] == "instance.terminated"
                    and e["subject"] == subject]
    assert "AIMA_PAUSE_GRACE_S" in terminated["detail"]["why"]
    # Paused twice (after the first two jobs and after the third), resumed once.
    assert len(ended["pauses"]) == 2 and len(resumed) == 1
    pause_end = at(ended["pauses"][-1][0]) + PAUSE_GRACE_S
    assert at(ended["terminated_at"]) >= pause_end
    # Billed: running seconds at the price, paused seconds at the storage price.
    paused_s, running_s = ended["paused_s"], ended["billed_s"] - ended["paused_s"]
    assert paused_s >= PAUSE_GRACE_S and running_s > 0
    assert ended["paused_price_per_hour"] == pytest.approx(PAUSED_PRICE)
    assert ended["cost"] == pytest.approx(PRICE * running_s / 3600
                                          + PAUSED_PRICE * paused_s / 3600, rel=0.01)
    assert ended["cost"] < PRICE * ended["billed_s"] / 3600
    [record] = cloud.records(pausing_stack.folder / "instances")
    assert record["terminated"]


def run(api, video: Path) -> dict:
    return finished(api, api.submit(video, confidentiality="public")["id"])


def finished(api, job_id: str) -> dict:
    job = api.wait(job_id, timeout_s=240)
    assert job["state"] == "succeeded", job["error"]
    assert job["placement"]["scope"] == "cloud" and job["agent"]["scope"] == "cloud"
    return job


def only_instance(api, state: str) -> dict | None:
    rows = api.get("/api/v1/instances/")["results"]
    assert len(rows) == 1, [(r["id"], r["state"]) for r in rows]
    return rows[0] if rows[0]["state"] == state else None


def audit_trail(running: Running) -> list[dict]:
    """The stack's audit trail, exported by its own management command."""
    env = {key: value for key, value in running.stack.supervisor.env.items()
           if key != "AIMA_FLOWER_URL"}
    exported = local_stack.manage(env, "aima_audit", "export", "--format", "jsonl")
    return [json.loads(line) for line in exported.splitlines() if line.strip()]


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()

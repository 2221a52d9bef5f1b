"""A cloud-placed job rents an instance and gives it back: web, control worker
(with its beat) and a local agent as real processes; the `subprocess` provider
launches the cloud agent as a real process too."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aima_tasks.app import app
from aima_web.core import samples
from aima_web.core import stack as local_stack

pytestmark = pytest.mark.e2e

# Too small for video: a video job must go to the cloud.
LOCAL_GPU = "E2E small (simulated):8"
PRICE = 0.72


@pytest.fixture(scope="module")
def cloud_stack(database_url: str, tmp_path_factory) -> Iterator[local_stack.Stack]:
    port = local_stack.free_port()
    env = {**os.environ, "DATABASE_URL": database_url,
           "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
           "AIMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "AIMA_PROVIDERS": "subprocess",
           "AIMA_SUBPROCESS_STATE_DIR": str(tmp_path_factory.mktemp("instances")),
           "AIMA_SUBPROCESS_GPU": "Cloud Sim A10:24",
           "AIMA_SUBPROCESS_PRICE_PER_HOUR": str(PRICE),
           "AIMA_SUBPROCESS_BOOT_DELAY_S": "0.5",
           "AIMA_DEPLOYMENT_ID": f"e2e-{uuid.uuid4().hex[:8]}",
           "AIMA_IDLE_GRACE_S": "3", "AIMA_INSTANCE_TICK_S": "1", "AIMA_RECONCILE_S": "5"}
    app.control.purge()
    local_stack.manage(env, "migrate", "--noinput")
    local_stack.manage(env, "aima_offers", "refresh")
    running = local_stack.start(env, tmp_path_factory.mktemp("logs"), port, LOCAL_GPU,
                                username="cloud", heartbeat_s=2, beat=True)
    yield running
    running.stop()


def wait_until(what: str, check, timeout_s: float = 90):
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_a_cloud_job_rents_an_instance_and_gives_it_back(cloud_stack, tmp_path: Path):
    api = cloud_stack.api
    video = samples.write_video(tmp_path / "clip.mp4")
    submitted = api.submit(video.path, confidentiality="public")
    job = api.wait(submitted["id"], timeout_s=180)

    assert job["state"] == "succeeded", job["error"]
    assert job["placement"]["scope"] == "cloud" and job["placement"]["queue"] == "gpu.cloud.24"
    assert job["placement"]["choice"]["provider"] == "subprocess"
    assert job["agent"]["scope"] == "cloud"
    assert job["gpu"] is None  # a rented GPU is not part of the local fleet
    results = {r["analysis"]: r["data"] for r in api.get(f"/api/v1/jobs/{job['id']}/results/")}
    assert results["shots"]["cut_count"] == len(video.cut_times_s)

    [instance] = api.get("/api/v1/instances/")["results"]
    assert instance["provider"] == "subprocess" and instance["gpu_class"] == 24
    assert instance["agent"] == job["agent"]["id"]
    # Terminated within the idle grace (3 s) plus a tick or two.
    ended = wait_until("the instance to be terminated", lambda: next(
        (i for i in api.get("/api/v1/instances/")["results"] if i["state"] == "terminated"),
        None), timeout_s=30)
    finished = _at(job["finished_at"])
    assert 0 <= (_at(ended["terminated_at"]) - finished) < 3 + 10
    # Billed from launch to termination at the offer's price; the job pays its run.
    assert ended["cost"] == pytest.approx(PRICE * ended["billed_s"] / 3600, rel=0.01)
    run_s = (finished - _at(job["running_at"]))
    job = api.get(f"/api/v1/jobs/{job['id']}/")
    assert job["cost"] == pytest.approx(PRICE * run_s / 3600, rel=0.05, abs=1e-6)
    assert job["cost"] < ended["cost"]


def _at(stamp: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(stamp).timestamp()


@pytest.fixture(scope="module")
def flaky_stack(database_url: str, tmp_path_factory) -> Iterator[tuple[local_stack.Stack, Path]]:
    """A provider that refuses half its launches, and room for one instance only."""
    port = local_stack.free_port()
    instances = tmp_path_factory.mktemp("flaky-instances")
    env = {**os.environ, "DATABASE_URL": database_url,
           "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
           "AIMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "AIMA_PROVIDERS": "subprocess",
           "AIMA_SUBPROCESS_STATE_DIR": str(instances),
           "AIMA_SUBPROCESS_BOOT_DELAY_S": "0.5",
           "AIMA_SUBPROCESS_FAIL_LAUNCH_SHARE": "0.5", "AIMA_SUBPROCESS_FAIL_AS": "transient",
           "AIMA_SUBPROCESS_FAIL_SEED": "1", "AIMA_LAUNCH_ATTEMPTS": "8",
           "AIMA_MAX_INSTANCES_PER_CLASS": "1",
           "AIMA_DEPLOYMENT_ID": f"e2e-{uuid.uuid4().hex[:8]}",
           "AIMA_IDLE_GRACE_S": "1", "AIMA_INSTANCE_TICK_S": "1", "AIMA_RECONCILE_S": "3"}
    app.control.purge()
    local_stack.manage(env, "migrate", "--noinput")
    local_stack.manage(env, "aima_offers", "refresh")
    running = local_stack.start(env, tmp_path_factory.mktemp("logs"), port, LOCAL_GPU,
                                username="flaky", heartbeat_s=2, beat=True)
    yield running, instances
    running.stop()


def test_failing_launches_and_a_cap_still_serve_every_job_and_leave_nothing(
        flaky_stack, tmp_path: Path):
    stack, instances = flaky_stack
    video = samples.write_video(tmp_path / "clip.mp4")
    submitted = [stack.api.submit(video.path, confidentiality="public") for _ in range(2)]
    # One waits for the only instance the cap allows, and says so meanwhile.
    reasons = wait_until("a job held by the cap", lambda: [
        j["wait_reason"] for j in (stack.api.get(f"/api/v1/jobs/{s['id']}/") for s in submitted)
        if "AIMA_MAX_INSTANCES_PER_CLASS" in j["wait_reason"]], timeout_s=60)
    assert reasons
    jobs = [stack.api.wait(s["id"], timeout_s=180) for s in submitted]
    assert all(job["state"] == "succeeded" for job in jobs), [j["error"] for j in jobs]
    rented = wait_until("every instance to end", lambda: (lambda rows: rows if rows and all(
        i["state"] in ("terminated", "failed") for i in rows) else None)(
        stack.api.get("/api/v1/instances/")["results"]), timeout_s=60)
    # The provider refused some launches: those instances tried again.
    assert sum(i["attempts"] for i in rented) > len(rented) or any(
        "TransientError" in i["error"] for i in rented)
    # Nothing left running at the provider either.
    records = [json.loads(p.read_text()) for p in instances.glob("sp-*.json")]
    assert records and all(not _running(r["pid"]) for r in records)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split()[2] != "Z"

"""A cloud-placed job rents an instance and gives it back: web, control worker
(with its beat) and a local agent as real processes; the `subprocess` provider
launches the cloud agent as a real process too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from agents import samples
from devtools import stack as local_stack
from tests import rabbitmq_node
from tests.e2e import cloud

pytestmark = pytest.mark.e2e

PRICE = 0.72


@pytest.fixture(scope="module")
def cloud_stack(database_url: str, cloud_broker: rabbitmq_node.Node | None,
                tmp_path_factory) -> Iterator[local_stack.Stack]:
    folder = tmp_path_factory.mktemp("cloud")
    running = cloud.start(database_url, folder, cloud_broker,
                          AIMA_SUBPROCESS_GPU="Cloud Sim A10:24",
                          AIMA_SUBPROCESS_PRICE_PER_HOUR=str(PRICE), AIMA_IDLE_GRACE_S="3")
    yield running
    cloud.stop(running, folder)


def test_a_cloud_job_rents_an_instance_and_gives_it_back(
        cloud_stack, cloud_broker: rabbitmq_node.Node | None, tmp_path: Path):
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
    ended = cloud.wait_until("the instance to be terminated", lambda: next(
        (i for i in api.get("/api/v1/instances/")["results"] if i["state"] == "terminated"),
        None), timeout_s=30)
    finished = at(job["finished_at"])
    assert 0 <= at(ended["terminated_at"]) - finished < 3 + 10
    # Billed from launch to termination at the offer's price; the job pays its run.
    assert ended["cost"] == pytest.approx(PRICE * ended["billed_s"] / 3600, rel=0.01)
    run_s = finished - at(job["running_at"])
    job = api.get(f"/api/v1/jobs/{job['id']}/")
    assert job["cost"] == pytest.approx(PRICE * run_s / 3600, rel=0.05, abs=1e-6)
    assert job["cost"] < ended["cost"]
    if cloud_broker is not None:
        # It served as a broker user of its own (reading gpu.cloud.24 only: the
        # attacks on it are in tests/broker/), gone with the instance.
        assert not [u for u in cloud_broker.users() if u.startswith("aima-cloud-")]


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()

"""Renting under faults: a provider that fails half its launches (transient
errors, or capacity shortages) and a cap of one instance still serve every
job, and leave nothing running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import samples
from devtools import stack as local_stack
from tests.e2e import cloud

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["TransientError", "CapacityError"])
def flaky_stack(own_database_url: str, cloud_broker, tmp_path_factory,
                request) -> Iterator[tuple[local_stack.Stack, Path, str]]:
    folder = tmp_path_factory.mktemp("flaky")
    fail_as = {"TransientError": "transient", "CapacityError": "capacity"}[request.param]
    running = cloud.start(own_database_url, folder, cloud_broker,
                          AIMA_SUBPROCESS_FAIL_LAUNCH_SHARE="0.5",
                          AIMA_SUBPROCESS_FAIL_AS=fail_as, AIMA_SUBPROCESS_FAIL_SEED="1",
                          AIMA_LAUNCH_ATTEMPTS="8", AIMA_MAX_INSTANCES_PER_CLASS="1",
                          AIMA_IDLE_GRACE_S="1", AIMA_RECONCILE_S="3")
    yield running, folder / "instances", request.param
    cloud.stop(running, folder)


def test_failing_launches_and_a_cap_still_serve_every_job_and_leave_nothing(
        flaky_stack, tmp_path: Path):
    stack, instances, error = flaky_stack
    video = samples.write_video(tmp_path / "clip.mp4")
    submitted = [stack.api.submit(video.path, confidentiality="public") for _ in range(2)]
    # One waits for the only instance the cap allows, and says so meanwhile.
    reasons = cloud.wait_until("a job held by the cap", lambda: [
        j["wait_reason"] for j in (stack.api.get(f"/api/v1/jobs/{s['id']}/") for s in submitted)
        if "AIMA_MAX_INSTANCES_PER_CLASS" in j["wait_reason"]], timeout_s=60)
    assert reasons
    jobs = [stack.api.wait(s["id"], timeout_s=180) for s in submitted]
    assert all(job["state"] == "succeeded" for job in jobs), [j["error"] for j in jobs]
    rented = cloud.all_ended(stack.api)
    # The provider refused launches: the instances tried again, or new ones were asked for.
    assert any(error in i["error"] for i in rented)
    # Nothing left running at the provider either.
    records = cloud.records(instances)
    assert records and not any(cloud.running(r["pid"]) for r in records)

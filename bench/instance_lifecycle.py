"""Seconds a cloud instance takes to come and to go, with the `subprocess` provider.

Starts a local stack (web, control worker with its beat, one local agent too
small for video) on a fresh database and the configured broker — the embedded
filesystem broker by default, RabbitMQ with AIMA_BROKER_URL — and the
`subprocess` provider as the only cloud. Submits a video job N times, one
after another, each time waiting until its instance is gone, and prints the
median and p95 of:

- submit → instance ready: from the job's creation until its instance's agent
  registered (probe, place, launch, the provider's boot delay, agent start);
- submit → job done;
- job done → instance terminated: from the job's end until the instance was
  terminated (the idle grace, plus up to one beat tick).

    .venv/bin/python bench/instance_lifecycle.py [--jobs N] [--idle-grace S] [--boot-delay S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cloud_stack
from cloud_stack import at

from agents import samples
from aima_tasks.broker import broker_url
from devtools.api_client import ApiClient


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5, help="jobs, one after another (default 5)")
    parser.add_argument("--idle-grace", type=float, default=0,
                        help="AIMA_IDLE_GRACE_S for the run (default 0: terminate at once)")
    parser.add_argument("--boot-delay", type=float, default=1.0,
                        help="the subprocess provider's boot delay in seconds (default 1)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aima-bench-"))
    video = samples.write_video(work / "clip.mp4").path
    running = cloud_stack.start(work, AIMA_SUBPROCESS_BOOT_DELAY_S=f"{args.boot_delay:g}",
                                AIMA_IDLE_GRACE_S=f"{args.idle_grace:g}")
    ready, done, gone = [], [], []
    try:
        api = running.api
        print(f"broker: {broker_url().split('@')[-1]}   "
              f"jobs: {args.jobs}   boot delay: {args.boot_delay:g} s   "
              f"idle grace: {args.idle_grace:g} s")
        for _ in range(args.jobs):
            job = api.wait(api.submit(video, confidentiality="public")["id"], timeout_s=300)
            if job["state"] != "succeeded":
                raise SystemExit(f"job {job['id']} ended {job['state']}: {job['error']}")
            instance = wait_for_termination(api, job["agent"]["id"])
            created = at(job["created_at"])
            ready.append(at(instance["ready_at"]) - created)
            done.append(at(job["finished_at"]) - created)
            gone.append(at(instance["terminated_at"]) - at(job["finished_at"]))
        print(f"{'stage':30} {'median s':>9} {'p95 s':>7}")
        for name, values in (("submit → instance ready", ready), ("submit → job done", done),
                             ("job done → instance terminated", gone)):
            print(f"{name:30} {statistics.median(values):9.2f} {p95(values):7.2f}")
        left = [i for i in api.get("/api/v1/instances/")["results"]
                if i["state"] not in ("terminated", "failed")]
        print(f"instances left running: {len(left)}")
    finally:
        running.stop()
    return 0


def wait_for_termination(api: ApiClient, agent_id: int, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for instance in api.get("/api/v1/instances/")["results"]:
            if instance["agent"] == agent_id and instance["state"] == "terminated":
                return instance
        time.sleep(0.2)
    raise SystemExit(f"the instance of agent {agent_id} was not terminated in {timeout_s:g} s")


if __name__ == "__main__":
    sys.exit(main())

"""Seconds until a burst of cloud jobs all have their instance, with launches
one at a time and side by side, measured in one run.

For each setting of AIMA_PARALLEL_LAUNCHES (1, then --parallel), starts a
local stack whose only cloud is the `subprocess` provider, its launch call
taking --launch-delay seconds once the host exists (as a cloud API's does),
and --repeat times submits --burst video jobs at once, then waits until all
are done and every instance has ended. Prints, per setting, the median over
the rounds of the seconds from the first submission until the last of the
burst's instances was ready, and the ratio of the two medians.

    .venv/bin/python bench/parallel_launches.py [--burst N] [--launch-delay S]
        [--repeat R] [--parallel P]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import cloud_stack
from cloud_stack import at

from agents import samples
from aima_tasks.broker import broker_url


def burst_seconds(work: Path, args: argparse.Namespace, parallel: int) -> list[float]:
    video = samples.write_video(work / "clip.mp4").path
    running = cloud_stack.start(work, AIMA_SUBPROCESS_BOOT_DELAY_S="0.5",
                                AIMA_SUBPROCESS_LAUNCH_DELAY_S=f"{args.launch_delay:g}",
                                AIMA_PARALLEL_LAUNCHES=str(parallel), AIMA_IDLE_GRACE_S="0",
                                AIMA_MAX_INSTANCES_PER_CLASS=str(args.burst))
    rounds = []
    try:
        api = running.api
        for round_no in range(args.repeat):
            seen = len(api.get("/api/v1/instances/")["results"])
            submitted = [api.submit(video, confidentiality="public")
                         for _ in range(args.burst)]
            jobs = [api.wait(s["id"], timeout_s=300) for s in submitted]
            failed = [j for j in jobs if j["state"] != "succeeded"]
            if failed:
                raise SystemExit(f"job {failed[0]['id']} ended {failed[0]['state']}: "
                                 f"{failed[0]['error']}")
            rows = cloud_stack.wait_all_ended(api, seen + args.burst)
            ready = [at(r["ready_at"]) for r in rows[:len(rows) - seen] if r["ready_at"]]
            first = min(at(j["created_at"]) for j in jobs)
            rounds.append(max(ready) - first)
            print(f"  parallel launches {parallel}: round {round_no + 1}: "
                  f"{len(ready)} instances ready after {rounds[-1]:.2f} s", flush=True)
    finally:
        running.stop()
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=4, help="jobs submitted at once (4)")
    parser.add_argument("--launch-delay", type=float, default=3.0,
                        help="seconds each launch call takes (3)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per setting (3)")
    parser.add_argument("--parallel", type=int, default=8,
                        help="AIMA_PARALLEL_LAUNCHES to compare with 1 (8)")
    args = parser.parse_args()
    print(f"broker: {broker_url().split('@')[-1]}   burst: {args.burst} jobs   "
          f"launch call: {args.launch_delay:g} s   rounds: {args.repeat}")
    medians = {}
    for parallel in (1, args.parallel):
        work = Path(tempfile.mkdtemp(prefix="aima-bench-"))
        medians[parallel] = statistics.median(burst_seconds(work, args, parallel))
    print(f"{'AIMA_PARALLEL_LAUNCHES':24} {'median s until all ready':>26}")
    for parallel, median in medians.items():
        print(f"{parallel:<24} {median:26.2f}")
    print(f"one at a time / side by side: {medians[1] / medians[args.parallel]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How good a job's ETA is on real runs: the API's ``progress.eta_at`` sampled while
segmented videos are analysed, against when each job really finished.

Starts a local stack (web, control worker, one agent with a simulated GPU) on the
embedded broker and SQLite in a fresh folder, cuts the media into segments
(AIMA_SEGMENT_S), submits N videos one after another and polls each job every 0.1 s:

    .venv/bin/python bench/progress_eta.py [--jobs 3] [--duration 60] [--segment-s 8]
                                           [--analyses vad,sounds,loudness]

Prints, per progress level (25/50/75 %), the median absolute error of the ETA shown
at the first sample at or past that level against the job's finished_at, the median
time then left, and the same error of the placement estimate alone (running_at plus
the placement's runtime_s): what the observed-speed correction buys. It also counts
samples where the fraction went down (must be 0).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents import samples
from devtools import stack

LEVELS = (0.25, 0.5, 0.75)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def errors(job: dict, seen: list[dict]) -> dict[float, tuple[float, float]]:
    """Per level: |eta_at - finished_at| and the seconds then left, at the first sample
    at or past it (None where the job jumped past a level between two samples)."""
    finished = at(job["finished_at"])
    found = {}
    for level in LEVELS:
        sample = next((p for p in seen if p["fraction"] >= level and p["eta_at"]), None)
        if sample is not None:
            eta = at(sample["eta_at"])
            left = (eta - finished).total_seconds()
            found[level] = (abs(left), (finished - eta).total_seconds() + sample["eta_seconds"])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0, help="video seconds")
    parser.add_argument("--segment-s", type=float, default=8.0)
    parser.add_argument("--analyses", default="vad,sounds,loudness")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aima-bench-"))
    env = {**stack.embedded_env(os.environ, work / "var"),
           "AIMA_SEGMENT_S": f"{args.segment_s:g}"}
    scenes = tuple(((40 * (i % 6), 90, 200 - 30 * (i % 6)), 5.0)
                   for i in range(max(1, round(args.duration / 5))))
    video = samples.write_video(work / "long.mp4", scenes=scenes).path
    running = stack.start(env, work / "log", stack.free_port(), "Bench GPU:24", "bench")
    by_level: dict[float, list[tuple[float, float]]] = {level: [] for level in LEVELS}
    prior_errors, decreases, units = [], 0, 0
    try:
        for _ in range(args.jobs):
            job_id = running.api.submit(video, analyses=args.analyses.split(","))["id"]
            job, bodies = running.api.watch(job_id, 600, every_s=0.1)
            seen = [body["progress"] for body in bodies]
            if job["state"] != "succeeded":
                raise SystemExit(f"job {job_id} ended {job['state']}: {job['error']}")
            fractions = [p["fraction"] for p in seen] + [job["progress"]["fraction"]]
            decreases += sum(b < a for a, b in itertools.pairwise(fractions))
            units = job["progress"]["total"]
            for level, error in errors(job, seen).items():
                by_level[level].append(error)
            estimate = job["placement"]["choice"]["runtime_s"]
            prior = (at(job["finished_at"]) - at(job["running_at"])).total_seconds() - estimate
            prior_errors.append(abs(prior))
    finally:
        running.stop()
    print(f"jobs: {args.jobs}   video: {args.duration:g} s   segments of {args.segment_s:g} s   "
          f"units per job: {units}   analyses: {args.analyses}")
    print(f"{'progress':>8} {'samples':>7} {'median |ETA error| s':>21} {'median s left':>14}")
    for level in LEVELS:
        found = by_level[level]
        if not found:
            print(f"{level:8.0%} {0:7d} {'-':>21} {'-':>14}")
            continue
        print(f"{level:8.0%} {len(found):7d} {statistics.median(e for e, _ in found):21.2f} "
              f"{statistics.median(left for _, left in found):14.2f}")
    print(f"placement estimate alone (from running_at): median |error| "
          f"{statistics.median(prior_errors):.2f} s")
    print(f"fraction decreases seen: {decreases}")
    return 0 if decreases == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Seconds from submission to result through the whole pipeline.

Starts a local stack (web, control worker, one agent with a simulated GPU) on
a fresh database and the configured broker — the embedded filesystem broker
by default, RabbitMQ with AIMA_BROKER_URL — submits each sample media type N
times one after another, and prints median and p95 seconds per stage:

    .venv/bin/python bench/pipeline_latency.py [--jobs N]

The same file is submitted each time, so from the second job on the probe
finds the content already probed (content-addressed media): as in production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents import samples
from aima_tasks.broker import broker_url
from devtools import stack

STAGES = (
    ("submit→probe", "created_at", "probing_at"),
    ("probe", "probing_at", "placing_at"),
    ("place", "placing_at", "queued_at"),
    ("queue→agent", "queued_at", "running_at"),
    ("analyse+finalize", "running_at", "finished_at"),
    ("total", "created_at", "finished_at"),
)


def seconds(job: dict, start: str, end: str) -> float:
    return (datetime.fromisoformat(job[end]) - datetime.fromisoformat(job[start])).total_seconds()


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5, help="jobs per media type (default 5)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aima-bench-"))
    env = {**os.environ, "AIMA_VAR_DIR": str(work / "var"),
           "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{work}/bench.db")}
    media = {"video": samples.write_video(work / "clip.mp4").path,
             "image": samples.write_image(work / "photo.jpg").path,
             "audio": samples.write_audio(work / "tone.wav").path}
    running = stack.start(env, work / "log", stack.free_port(), "Bench GPU:24", "bench")
    try:
        print(f"broker: {broker_url().split('@')[-1]}   jobs per type: {args.jobs}")
        print(f"{'media':6} {'stage':18} {'median s':>9} {'p95 s':>7}")
        for kind, path in media.items():
            jobs = []
            for _ in range(args.jobs):
                job = running.api.wait(running.api.submit(path)["id"])
                if job["state"] != "succeeded":
                    raise SystemExit(f"{kind} job {job['id']} ended {job['state']}: {job['error']}")
                jobs.append(job)
            for name, start, end in STAGES:
                values = [seconds(job, start, end) for job in jobs]
                print(f"{kind:6} {name:18} {statistics.median(values):9.3f} {p95(values):7.3f}")
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

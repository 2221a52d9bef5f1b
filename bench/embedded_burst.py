"""Light jobs in bursts through the embedded default: no RabbitMQ, no database
server (the filesystem broker and SQLite), each part a real process (web,
control worker with beat, one agent with a simulated GPU) under the demo's
supervisor. Prints submitted/succeeded/failed/stuck, jobs per second and any
process the supervisor had to restart:

    .venv/bin/python bench/embedded_burst.py [--jobs 500] [--burst 25] [--pause 0.5]

Exits 1 unless every job succeeded with no process down. Each job is a small
JPEG with the phash analysis only; the same picture each time, so from the
second job on the probe finds it already probed, as in production.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents import samples
from devtools import burst, stack
from devtools.processes import RestartPolicy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs in all (default 500)")
    parser.add_argument("--burst", type=int, default=25, help="jobs per burst (default 25)")
    parser.add_argument("--pause", type=float, default=0.5,
                        help="seconds between bursts (default 0.5)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds to wait for all jobs to end (default 1800)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aima-burst-"))
    env = stack.embedded_env(os.environ, work / "var")
    picture = samples.write_image(work / "photo.jpg").path
    running = stack.start(env, work / "log", stack.free_port(), "Burst GPU (simulated):24",
                          "bench", heartbeat_s=2, beat=True)
    restarts: list[str] = []
    running.supervisor.log = restarts.append
    running.supervisor.policy = RestartPolicy()
    running.supervisor.watch()
    try:
        print(f"embedded default: {args.jobs} jobs in bursts of {args.burst}, "
              f"logs in {running.supervisor.log_dir}", flush=True)
        outcome = burst.run(running.api, picture, args.jobs, args.burst, args.pause,
                            args.timeout, running.supervisor)
    finally:
        running.stop()
    print(outcome.line())
    for line in outcome.errors + restarts:
        print(f"  {line}")
    clean = outcome.succeeded == outcome.submitted and not restarts
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

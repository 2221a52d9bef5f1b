"""Issue 14's chaos scenarios with 60 jobs each: the table of jobs per fault.

    .venv/bin/python bench/chaos.py [--jobs 60] [--settle 90] [--only db-outage,broker-kill]

The chaos suite's harness (tests/chaos: the same faults, 20 jobs each, asserted) on a
PostgreSQL cluster and a RabbitMQ node of the benchmark's own, started on spare ports
and stopped at the end (never the machine's services; run as root, the cluster runs
as the ``postgres`` user). Each scenario gets a fresh stack (gunicorn web, control
worker with its beat, one agent of a simulated GPU) on a copy of a migrated template
database and a vhost of its own; half its jobs (image pHash) go in as a burst, the
rest while the fault lasts. Columns: jobs not ended when the fault struck (flying),
jobs the database holds (submitted), succeeded, failed (lost), stuck (not ended
``--settle`` seconds after the fault, by state), duplicates (results or job.succeeded
records of a job more than once), seconds, and the requests that got what they must
not (a 500, a 503 without Retry-After, a slow POST while the broker hangs, anything
but 503 while the database is down). Exit status 1 when any scenario is not clean;
the logs of those are kept (their folder is printed).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import postgres_cluster, rabbitmq_node
from tests.chaos import harness
from tests.chaos import stack as chaos_stack
from tests.chaos.scenarios import SCENARIOS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="jobs per scenario")
    parser.add_argument("--settle", type=float, default=90, metavar="SECONDS",
                        help="how long after the fault the jobs have to end")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help="comma-separated scenarios (default: all): "
                             + ", ".join(s.name for s in SCENARIOS))
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only names none of {', '.join(s.name for s in SCENARIOS)}")
    # A SIGTERM ends the bench through its finally blocks: everything started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="aima-chaos-bench-"))
    tallies: list[harness.Tally] = []
    node = rabbitmq_node.start(work / "rabbitmq")
    try:
        with postgres_cluster.cluster() as cluster:
            world = chaos_stack.prepare(cluster, node, work / "world", args.jobs)
            for scenario in chosen:
                tally = harness.run(world, scenario, args.jobs, args.settle,
                                    work / scenario.name)
                tallies.append(tally)
                print(tally.row(), flush=True)
                for problem in tally.problems:
                    print(f"    {problem}", flush=True)
    finally:
        node.stop()
    print(f"\n{harness.table(tallies)}")
    clean = all(t.ok for t in tallies)
    if clean:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nthe logs of the scenarios that were not clean are kept in {work}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

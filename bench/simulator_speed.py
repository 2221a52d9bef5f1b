"""How fast the what-if simulator replays a large trace.

    .venv/bin/python bench/simulator_speed.py [--jobs 100000] [--trace PATH]
        [--strategy balanced] [--repeat N] [--profile]

Generates a synthetic trace (bench/make_trace.py) in a temporary folder, or
reads --trace, and replays it with one strategy against the example fleet and
offers (bench/simulation/). Prints the seconds to read the trace, and per
replay the total seconds, jobs per second, and how much of it the engine's
decide() took (per call) against the replay loop around it; medians when
repeated. --profile adds a cProfile of one replay: the engine functions that
cost most.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_trace import make_trace

from aima_tasks.kernel.placement import Strategy, decide
from aima_tasks.kernel.simulation import load_fleet, load_offer_files, load_trace
from aima_tasks.kernel.simulation.compare import market_for
from aima_tasks.kernel.simulation.inputs import TraceJob
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.placing import Placement, ReplayView
from aima_tasks.kernel.simulation.replay import replay

EXAMPLE = Path(__file__).resolve().parent / "simulation"


class TimedEngine(EnginePlacer):
    """The engine placer, with the time spent inside decide() summed."""

    engine_s = 0.0

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        fleet = view.fleet_state()
        started = time.perf_counter()
        decision = decide(job.spec, fleet, self.book, self.policy)
        self.engine_s += time.perf_counter() - started
        self.decisions += 1
        return self.placement(job, decision, fleet.knowledge)


def write_trace(path: Path, jobs: int, seed: int) -> None:


    records = make_trace(jobs, seed, datetime(2026, 11, 23, tzinfo=UTC), 70.0)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000,
                        help="jobs in the generated trace (default 100000)")
    parser.add_argument("--trace", type=Path, help="replay this trace instead of generating one")
    parser.add_argument("--strategy", default=Strategy.BALANCED.value,
                        choices=[s.value for s in Strategy])
    parser.add_argument("--repeat", type=int, default=1, help="replays to take the median of")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="also profile one replay (slower) and print the top functions")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aima-sim-bench-") as work:
        trace = args.trace
        if trace is None:
            trace = Path(work) / "trace.jsonl"
            started = time.perf_counter()
            write_trace(trace, args.jobs, args.seed)
            print(f"generated {args.jobs} jobs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        jobs = load_trace(trace)
        load_s = time.perf_counter() - started
    fleet = load_fleet(EXAMPLE / "fleet.json")
    offers = load_offer_files([EXAMPLE / "offers.csv"])
    market = market_for(jobs, fleet, offers)
    strategy = Strategy(args.strategy)
    print(f"trace: {len(jobs)} jobs read in {load_s:.2f} s; fleet: {len(fleet.gpus)} local GPUs;"
          f" offers: {len(market.book)}; strategy: {strategy}")

    totals, engine, loop = [], [], []
    for run in range(1, args.repeat + 1):
        placer = TimedEngine(strategy, fleet, market)
        started = time.perf_counter()
        outcome = replay(jobs, fleet, market, placer, args.seed)
        total = time.perf_counter() - started
        totals.append(total)
        engine.append(placer.engine_s / max(placer.decisions, 1))
        loop.append((total - placer.engine_s) / len(jobs))
        print(f"run {run}: {total:.2f} s, {len(jobs) / total:,.0f} jobs/s; decide() "
              f"{placer.engine_s:.2f} s ({placer.engine_s / total:.0%}); cost "
              f"${outcome.total_cost:,.2f}, violations {outcome.violations}")
    median = statistics.median(totals)
    print(f"median of {len(totals)}: {median:.2f} s for {len(jobs)} jobs = "
          f"{len(jobs) / median:,.0f} jobs/s; decide() {statistics.median(engine) * 1e6:.0f} "
          f"µs per call; replay loop {statistics.median(loop) * 1e6:.1f} µs per job")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        replay(jobs, fleet, market, EnginePlacer(strategy, fleet, market), args.seed)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

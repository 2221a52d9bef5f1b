"""``python manage.py aima_simulate``: what-if replay of a job trace.

All logic is in ``aima_tasks.kernel.simulation``; this reads the arguments, turns
input errors into one-line CommandErrors and prints the table or JSON.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from aima_tasks.kernel.placement import Strategy
from aima_tasks.kernel.simulation import (
    InputError,
    compare,
    load_fleet,
    load_offer_files,
    load_trace,
)
from aima_tasks.kernel.simulation.options import VARIANTS
from aima_tasks.kernel.simulation.report import table, to_json, what_if_json, what_if_table
from aima_tasks.kernel.simulation.whatif import what_if
from aima_web.core.progress_bar import ProgressBar


class Command(BaseCommand):
    help = ("Replay a job trace against a local fleet and cloud offers with the placement "
            "engine, and compare strategies, baselines and a lower bound.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--trace", required=True, metavar="TRACE.jsonl",
                            help="jobs, one JSON object per line")
        parser.add_argument("--fleet", required=True, metavar="FLEET.json",
                            help="local GPUs, policy overrides, idle grace, cloud capacity")
        parser.add_argument("--offers", required=True, action="append", metavar="OFFERS.csv",
                            help="price snapshot CSV; repeat for more files")
        parser.add_argument("--strategy", action="append", choices=[s.value for s in Strategy],
                            help="strategy to replay; repeat for more (default: all)")
        parser.add_argument("--seed", type=int, default=0,
                            help="seed of the spot interruption draws (default 0)")
        parser.add_argument("--idle-grace-s", type=float, default=None, metavar="SECONDS",
                            help="idle seconds before an instance is terminated "
                                 "(default: the fleet file's, else 60)")
        parser.add_argument("--what-if", dest="whatif", action="store_true",
                            help="also replay today's behaviour (the first strategy, default "
                                 "balanced) with pause/resume, warm capacity, off-peak "
                                 "deferral, and all three, next to the lower bound")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="print one JSON document "
                                 "(keys: aima_tasks.kernel.simulation.report)")

    def handle(self, *args, trace: str, fleet: str, offers: list[str],
               strategy: list[str] | None, seed: int, idle_grace_s: float | None, as_json: bool,
               whatif: bool = False, **options) -> None:
        if idle_grace_s is not None and idle_grace_s < 0:
            raise CommandError("--idle-grace-s must be 0 or more seconds")
        try:
            jobs = load_trace(trace)
            the_fleet = load_fleet(fleet, idle_grace_s)
            offer_file = load_offer_files(offers)
        except InputError as exc:
            raise CommandError(str(exc)) from None
        strategies = tuple(Strategy(s) for s in strategy) if strategy else tuple(Strategy)
        # Strategies, two baselines and the lower bound: one replay each.
        with ProgressBar(len(strategies) + 3, "replaying", unit=" replays") as bar:
            comparison = compare(jobs, the_fleet, offer_file, strategies, seed,
                                 on_step=lambda done, _total: bar.update(done))
        variants = None
        if whatif:
            # One replay per variant, then the lower bound.
            with ProgressBar(len(VARIANTS) + 1, "what if", unit=" replays") as bar:
                variants = what_if(jobs, the_fleet, offer_file, strategies[0], seed,
                                   on_step=lambda done, _total: bar.update(done))
        if as_json:
            document = to_json(comparison)
            if variants is not None:
                document["what_if"] = what_if_json(variants)
            self.stdout.write(json.dumps(document, indent=2))
        else:
            self.stdout.write(table(comparison))
            if variants is not None:
                self.stdout.write("\n" + what_if_table(variants))

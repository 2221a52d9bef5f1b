"""One what-if run: every chosen strategy, both baselines and the lower bound
over the same trace, fleet and offers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aima_tasks.kernel.placement import RuntimeKnowledge, Strategy
from aima_tasks.kernel.simulation.baselines import HyperscalerOnDemand, LocalWhenItFits, lower_bound
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market, OfferFile, market
from aima_tasks.kernel.simulation.outcome import Outcome
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.replay import replay


@dataclass(frozen=True)
class Comparison:
    seed: int
    jobs: int
    idle_grace_s: float
    strategies: tuple[Strategy, ...]
    outcomes: tuple[Outcome, ...]


def market_for(jobs: Sequence[TraceJob], fleet: Fleet, offers: OfferFile) -> Market:
    # Priced at the last arrival, so no price turns stale during the replay.
    horizon = datetime.fromtimestamp(jobs[-1].arrival_s, UTC)
    return market(offers.offers, horizon, offers.capacity, fleet.cloud_capacity)


def compare(jobs: Sequence[TraceJob], fleet: Fleet, offers: OfferFile,
            strategies: Iterable[Strategy] = tuple(Strategy), seed: int = 0,
            knowledge: RuntimeKnowledge | None = None,
            on_step: Callable[[int, int], None] | None = None) -> Comparison:
    """``on_step(done, total)`` after each replay: a long replay's progress bar."""
    knowledge = knowledge or RuntimeKnowledge()
    book = market_for(jobs, fleet, offers)
    chosen = tuple(dict.fromkeys(strategies))
    outcomes: list[Outcome] = []

    def keep(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_step is not None:
            on_step(len(outcomes), len(chosen) + 3)

    for strategy in chosen:
        keep(replay(jobs, fleet, book, EnginePlacer(strategy, fleet, book), seed, knowledge))
    # Each replay draws its interruptions from a fresh RNG of the same seed.
    keep(replay(jobs, fleet, book, HyperscalerOnDemand(book, knowledge), seed, knowledge))
    keep(replay(jobs, fleet, book, LocalWhenItFits(fleet, book, knowledge), seed, knowledge))
    keep(lower_bound(jobs, fleet, book, knowledge))
    return Comparison(seed=seed, jobs=len(jobs), idle_grace_s=fleet.idle_grace_s,
                      strategies=chosen, outcomes=tuple(outcomes))

"""Today's behaviour next to pause/resume, warm capacity and off-peak
deferral, one at a time and all together, over the same trace, fleet and
offers, with the lower bound they are measured against."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aima_tasks.kernel.placement import RuntimeKnowledge, Strategy
from aima_tasks.kernel.simulation.baselines import lower_bound
from aima_tasks.kernel.simulation.deferring import DeferringPlacer
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market, OfferFile, market
from aima_tasks.kernel.simulation.options import VARIANTS, ReplayOptions
from aima_tasks.kernel.simulation.outcome import Outcome
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.placing import Placer
from aima_tasks.kernel.simulation.replay import deadlines, replay


@dataclass(frozen=True)
class WhatIf:
    strategy: Strategy
    # Variant name -> its outcome, in VARIANTS' order; then the lower bound.
    outcomes: tuple[Outcome, ...]
    bound: Outcome
    # Variant name -> how often each off-peak verdict was given.
    verdicts: Mapping[str, Mapping[str, int]]


def what_if(jobs: Sequence[TraceJob], fleet: Fleet, offers: OfferFile,
            strategy: Strategy = Strategy.BALANCED, seed: int = 0,
            knowledge: RuntimeKnowledge | None = None,
            variants: Mapping[str, ReplayOptions] = VARIANTS,
            on_step: Callable[[int, int], None] | None = None) -> WhatIf:
    """One replay per variant through the engine's ``strategy``, same seed each."""
    knowledge = knowledge or RuntimeKnowledge()
    book = _market(jobs, fleet, offers)
    outcomes: list[Outcome] = []
    verdicts: dict[str, dict[str, int]] = {}
    for name, options in variants.items():
        placer: Placer = EnginePlacer(strategy, fleet, book)
        if options.offpeak is not None:
            placer = DeferringPlacer(placer, fleet, options.offpeak, knowledge)
        outcome = replay(jobs, fleet, book, placer, seed, knowledge, options)
        outcomes.append(replace(outcome, name=name, label=_label(strategy, options)))
        if isinstance(placer, DeferringPlacer):
            verdicts[name] = dict(sorted(placer.verdicts.items()))
        if on_step is not None:
            on_step(len(outcomes), len(variants) + 1)
    bound = lower_bound(jobs, fleet, book, knowledge)
    if on_step is not None:
        on_step(len(variants) + 1, len(variants) + 1)
    return WhatIf(strategy=strategy, outcomes=tuple(outcomes), bound=bound, verdicts=verdicts)


def _market(jobs: Sequence[TraceJob], fleet: Fleet, offers: OfferFile) -> Market:
    # Priced at the last moment a job may be placed, a deferred job's move to
    # the cloud included, so that no price turns stale during the replay.
    last = max([jobs[-1].arrival_s, *(d for d in deadlines(jobs) if d != float("inf"))])
    return market(offers.offers, datetime.fromtimestamp(last, UTC), offers.capacity,
                  fleet.cloud_capacity)


def _label(strategy: Strategy, options: ReplayOptions) -> str:
    parts = [f"engine: {strategy}"]
    if options.pause is not None:
        parts.append("idle instances paused where idle_policy says so")
    if options.warm is not None:
        parts.append("instances kept or launched warm ahead of forecast demand")
    if options.offpeak is not None:
        parts.append("low-urgency jobs deferred to free local GPUs within their deadline")
    return "; ".join(parts) if len(parts) > 1 else f"{parts[0]} (today's behaviour)"

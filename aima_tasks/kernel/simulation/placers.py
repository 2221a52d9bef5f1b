"""The engine as a placer: the production decision for each job, replayed."""

from __future__ import annotations

from dataclasses import replace

from aima_tasks.kernel.placement import Decision, Policy, RuntimeKnowledge, Strategy, decide
from aima_tasks.kernel.placement.performance import runtime_s
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.placing import Placement, ReplayView

STRATEGY_LABELS = {
    Strategy.BALANCED: "engine: balanced (hard rules, urgency, large media, 10 % rule)",
    Strategy.COST_FIRST: "engine: cost first",
    Strategy.LOCAL_FIRST: "engine: local first",
    Strategy.PROVIDER_PRIORITY: "engine: provider priority",
}


class EnginePlacer:
    kind = Kind.STRATEGY

    def __init__(self, strategy: Strategy, fleet: Fleet, market: Market,
                 policy: Policy | None = None) -> None:
        self.name = strategy.value
        self.label = STRATEGY_LABELS.get(strategy, f"engine: {strategy}")
        self.policy = replace(policy or fleet.policy, strategy=strategy)
        self.book = market.book
        self.offer_index = market.index
        self.gpu_index = {gpu.gpu_id: i for i, gpu in enumerate(fleet.gpus)}
        self.decisions = 0

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        # Lower-priority work queued on a GPU is not ahead of this job there.
        fleet = view.fleet_state(job.spec.priority)
        decision = decide(job.spec, fleet, self.book, self.policy)
        self.decisions += 1
        return self.placement(job, decision, fleet.knowledge)

    def placement(self, job: TraceJob, decision: Decision,
                  knowledge: RuntimeKnowledge) -> Placement | None:
        choice = decision.choice
        if not decision.placed or choice is None:
            return None
        if choice.gpu_id is not None:
            return Placement(runtime_s=choice.runtime_s, gpu=self.gpu_index[choice.gpu_id])
        runtime = choice.runtime_s
        if choice.spot:
            # A spot option's runtime carries the expected rework after
            # interruptions; the replay draws those itself, so it needs the
            # plain estimate the engine started from.
            runtime, _ = runtime_s(job.spec.analyses, job.spec.work_units, choice.gpu_model,
                                   knowledge)
        return Placement(runtime_s=runtime, offer=self.offer_index[choice.offer_id],
                         spot=choice.spot)

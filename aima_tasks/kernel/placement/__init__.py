"""Placement: where a job may and should run, and why.

``decide(spec, fleet, offers, policy)`` is pure and deterministic; see
``engine`` for the order of reasoning and ``inputs`` for what it reads.
``decide_partial`` also drops the analyses no GPU can hold (``partial``).
"""

from aima_tasks.kernel.placement.decision import Alternative, Code, Decision, Option, Skipped
from aima_tasks.kernel.placement.engine import decide
from aima_tasks.kernel.placement.inputs import (
    LOCAL,
    FleetState,
    JobSpec,
    LocalGpu,
    Offer,
    Policy,
    RuntimeKnowledge,
    Strategy,
    local_cost_per_hour,
    work_units,
)
from aima_tasks.kernel.placement.offers import EMPTY, OfferBook
from aima_tasks.kernel.placement.partial import decide_partial

__all__ = [
    "EMPTY",
    "LOCAL",
    "Alternative",
    "Code",
    "Decision",
    "FleetState",
    "JobSpec",
    "LocalGpu",
    "Offer",
    "OfferBook",
    "Option",
    "Policy",
    "RuntimeKnowledge",
    "Skipped",
    "Strategy",
    "decide",
    "decide_partial",
    "local_cost_per_hour",
    "work_units",
]

"""What a placer is to the replay: it reads a ``ReplayView`` at a job's
arrival and answers a ``Placement`` (or None: refused). ``replay`` names these
too, for its callers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aima_tasks.kernel.placement import FleetState
from aima_tasks.kernel.simulation.inputs import TraceJob
from aima_tasks.kernel.simulation.outcome import Kind


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a placer puts a job."""

    # The estimate for the chosen GPU, before the trace's runtime_factor.
    runtime_s: float
    gpu: int = -1  # index into Fleet.gpus
    offer: int = -1  # index into Market.book.offers
    spot: bool = False
    # A job deferred to a local GPU's free window: if it has not started by
    # then (POSIX seconds), the placer's ``rescue`` places it elsewhere.
    latest_start_s: float = float("inf")


class ReplayView(Protocol):
    """What a placer may read of the replay at a job's arrival."""

    now_s: float

    def fleet_state(self, priority: int | None = None) -> FleetState: ...

    def backlog_s(self, gpu: int, priority: int | None = None,
                  deferred: bool = False) -> float: ...


class Placer(Protocol):
    name: str
    label: str
    kind: Kind

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None: ...

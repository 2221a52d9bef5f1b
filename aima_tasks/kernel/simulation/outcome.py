"""What one replay (or the lower bound) measured: plain numbers for the report."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    STRATEGY = "strategy"
    BASELINE = "baseline"
    BOUND = "bound"


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: Kind
    label: str
    jobs: int
    total_cost: float
    # Provider -> cost; "local" is the local fleet (energy and depreciation).
    cost_by_provider: Mapping[str, float]
    placed_local: int
    placed_cloud: int
    refused: int
    violations: int
    violations_by_rule: Mapping[str, int] = field(default_factory=dict)
    # None where the measure does not apply (the lower bound has no time).
    wait_p50_s: float | None = None
    wait_p95_s: float | None = None
    makespan_s: float | None = None
    idle_gpu_s: float | None = None
    spot_interruptions: int | None = None
    rework_s: float | None = None
    cloud_instances: int | None = None
    unfinished: int | None = None
    # Jobs finished after their deadline (their own, else the default for
    # their urgency); jobs deferred to a local GPU's free window, and those of
    # them moved to the cloud to keep their deadline; instance pauses and
    # resumes; instances launched ahead of forecast demand.
    past_deadline: int | None = None
    # Waits of the jobs that ran in the cloud (boot or resume, upload, capacity).
    cloud_wait_p95_s: float | None = None
    # Open schedule time of usable local GPUs with no work, first to last arrival.
    local_idle_gpu_s: float | None = None
    deferred: int | None = None
    rescued: int | None = None
    pauses: int | None = None
    resumes: int | None = None
    warm_launches: int | None = None


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile: a value that occurred, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]

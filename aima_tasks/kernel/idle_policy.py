"""What to do with an instance that has no job: keep it, pause it or end it.

Past its idle grace an instance bills for nothing. Ending it means the next
job of its class waits for a fresh launch and pays its boot; pausing it (where
the provider can) bills only its disk until the next job, which then waits for
a resume, faster than a boot. Pausing pays where work of its class is expected
soon and the disk kept until then costs less than the boot it saves.

The next job's arrival is taken as a Poisson process at the forecast's rate
(``expected_jobs`` within ``horizon_s``), and a paused instance is ended after
the pause grace, so a job later than that pays a boot after all:

    λ = expected_jobs / horizon_s            p = P(next job within the pause grace)
    pause cost   = paused price * E[min(wait, pause grace)]
                   + p * price * resume_s + (1 - p) * price * boot_s
    relaunch cost = price * boot_s

Pure: the control plane (``aima_web/instances/upkeep.py``) and the simulator
decide through it alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

SECONDS_PER_HOUR = 3600.0
# Work is "expected soon" when the next job comes within the horizon at least this likely.
MIN_CHANCE = 0.5


class IdleAction(StrEnum):
    KEEP = "keep"
    PAUSE = "pause"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class IdleFacts:
    """What the decision needs about one instance without a job, and its class."""

    price_per_hour: float
    # What it bills paused; None: its provider cannot pause it.
    paused_price_per_hour: float | None
    boot_s: float    # a fresh launch until its agent is ready
    resume_s: float  # a resume until its agent is ready again
    expected_jobs: float  # jobs of its class expected within the horizon
    horizon_s: float
    idle_s: float    # how long it has been without a job
    idle_grace_s: float
    pause_grace_s: float  # how long a paused instance is kept before it is ended
    queued: bool = False  # work of its class is queued now


@dataclass(frozen=True)
class IdleDecision:
    action: IdleAction
    reason: str
    idle_s: float
    expected_jobs: float
    horizon_s: float
    # The chance the next job of its class comes within the horizon.
    chance: float
    # The expected cost of pausing it now and of ending it (and launching anew
    # for the next job); None where it cannot pause or no work is expected.
    pause_cost: float | None = None
    relaunch_cost: float | None = None
    # Seconds the next job is expected to wait less for a resumed instance.
    wait_saved_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["action"] = self.action.value
        return {key: round(value, 6) if isinstance(value, float) else value
                for key, value in record.items()}


def decide(facts: IdleFacts) -> IdleDecision:
    """KEEP within the idle grace or with work of its class queued; past the
    grace PAUSE where work is expected soon and pausing costs less than a
    relaunch; TERMINATE otherwise."""
    chance = arrival_chance(facts.expected_jobs, facts.horizon_s, facts.horizon_s)
    base = {"idle_s": facts.idle_s, "expected_jobs": facts.expected_jobs,
            "horizon_s": facts.horizon_s, "chance": chance}
    if facts.queued:
        return IdleDecision(IdleAction.KEEP, "work of its class is queued", **base)
    if facts.idle_s < facts.idle_grace_s:
        return IdleDecision(IdleAction.KEEP, f"idle {facts.idle_s:.0f} s, within the idle "
                                             f"grace of {facts.idle_grace_s:.0f} s", **base)
    if facts.paused_price_per_hour is None:
        return IdleDecision(IdleAction.TERMINATE, f"idle past the grace of "
                            f"{facts.idle_grace_s:.0f} s; its provider cannot pause it", **base)
    pause, relaunch, saved = costs(facts)
    priced = {**base, "pause_cost": pause, "relaunch_cost": relaunch, "wait_saved_s": saved}
    if chance < MIN_CHANCE:
        return IdleDecision(IdleAction.TERMINATE, f"idle past the grace; next job of its class "
                            f"within {facts.horizon_s:.0f} s only {chance:.0%} likely", **priced)
    if pause >= relaunch:
        return IdleDecision(IdleAction.TERMINATE, f"idle past the grace; pausing ({pause:.4f}) "
                            f"costs more than a relaunch ({relaunch:.4f})", **priced)
    return IdleDecision(IdleAction.PAUSE, f"work expected ({chance:.0%} within "
                        f"{facts.horizon_s:.0f} s); pausing ({pause:.4f}) costs less than a "
                        f"relaunch ({relaunch:.4f}) and saves {saved:.0f} s of boot", **priced)


def decide_paused(paused_s: float, pause_grace_s: float) -> IdleAction:
    """A paused instance is kept (for capacity to resume) until the pause grace
    ends, then terminated."""
    return IdleAction.TERMINATE if paused_s >= pause_grace_s else IdleAction.KEEP


def arrival_chance(expected_jobs: float, horizon_s: float, within_s: float) -> float:
    """The chance the next job comes within ``within_s`` at ``expected_jobs``
    per ``horizon_s``."""
    if expected_jobs <= 0 or horizon_s <= 0:
        return 0.0
    return 1.0 - math.exp(-expected_jobs / horizon_s * within_s)


def costs(facts: IdleFacts) -> tuple[float, float, float]:
    """The expected cost of pausing and of relaunching, and the seconds of
    waiting a pause saves the next job (see the module's formulas)."""
    paused_price = facts.paused_price_per_hour or 0.0
    grace = facts.pause_grace_s
    within = arrival_chance(facts.expected_jobs, facts.horizon_s, grace)
    rate = facts.expected_jobs / facts.horizon_s if facts.horizon_s > 0 else 0.0
    # E[min(wait, grace)] for an exponential wait; the whole grace with no arrivals.
    paused_s = within / rate if rate > 0 else grace
    per_s = facts.price_per_hour / SECONDS_PER_HOUR
    pause = (paused_price / SECONDS_PER_HOUR * paused_s
             + within * per_s * facts.resume_s + (1 - within) * per_s * facts.boot_s)
    relaunch = per_s * facts.boot_s
    return pause, relaunch, within * max(facts.boot_s - facts.resume_s, 0.0)

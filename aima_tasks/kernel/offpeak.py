"""Off-peak deferral (seed 003 §6.2, 004 §8.2): hold a low-urgency job for a
later, cheaper start (a local GPU free at night or at the weekend, a spot
price that falls at night) when that start still finishes before its deadline.

A deadline alone governs deferral: the one the job states, else the
policy's default for its urgency; a job with neither is not deferred. Urgent jobs are
never deferred, and neither is a confidential one: it cannot go to the cloud
anyway, so it simply queues for its local GPU (``confidential_queued``).

Pure: the caller prices the options (the engine's choice now, local GPUs'
free windows, spot by hour) and applies the answer; ``Deferral.to_dict`` is
what the decision record keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_tasks.kernel.forecast import HOURS_PER_WEEK, hour_of_week
from aima_tasks.kernel.schedule import Schedule

HOUR_S = 3600.0
# Seed 004 §8.2's defaults: a low-urgency job within three days, a normal one
# within a day; an urgent one has no slack to spend.
DEFAULT_DEADLINES_S: Mapping[Urgency, float | None] = {
    Urgency.LOW: 72 * HOUR_S, Urgency.NORMAL: 24 * HOUR_S, Urgency.HIGH: None}


class Verdict(StrEnum):
    DEFERRED = "deferred_off_peak"
    URGENT = "not_deferred_urgent"
    CONFIDENTIAL = "not_deferred_confidential"
    NO_DEADLINE = "not_deferred_no_deadline"
    NOT_CHEAPER = "not_deferred_not_cheaper"
    DEADLINE = "not_deferred_deadline"


@dataclass(frozen=True)
class DeferralPolicy:
    deadlines_s: Mapping[Urgency, float | None] = field(
        default_factory=lambda: dict(DEFAULT_DEADLINES_S))
    # Room kept before the deadline: a fixed part plus a share of the runtime,
    # because runtimes are estimates (one may take twice as long) and a later
    # start may queue behind others.
    margin_s: float = 1800.0
    margin_share: float = 1.0
    # A deferral must save at least this much, and this share of the cost now.
    min_saving: float = 0.01
    min_saving_share: float = 0.05


@dataclass(frozen=True)
class DeferralJob:
    urgency: Urgency
    confidentiality: Confidentiality
    submitted: datetime
    # The deadline the job states, if any.
    deadline: datetime | None = None


@dataclass(frozen=True)
class StartOption:
    """Running the job from ``start`` on ``where``, for ``cost`` (expected)."""

    start: datetime
    cost: float
    runtime_s: float
    where: str


@dataclass(frozen=True)
class Deferral:
    defer: bool
    code: Verdict
    reason: str
    deadline: datetime | None = None
    until: datetime | None = None
    where: str = ""
    saving: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "defer": self.defer, "code": self.code.value, "reason": self.reason,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "until": self.until.isoformat() if self.until else None,
            "where": self.where, "saving": round(self.saving, 6),
        }


def deadline_of(job: DeferralJob, policy: DeferralPolicy) -> datetime | None:
    """The deadline the job states, else the policy's default for its urgency."""
    if job.deadline is not None:
        return job.deadline
    default_s = policy.deadlines_s.get(job.urgency)
    return job.submitted + timedelta(seconds=default_s) if default_s is not None else None


def latest_start(deadline: datetime, runtime_s: float, policy: DeferralPolicy) -> datetime:
    """The last start that still finishes before ``deadline`` with the margin."""
    room = runtime_s * (1 + policy.margin_share) + policy.margin_s
    return deadline - timedelta(seconds=room)


def decide_deferral(job: DeferralJob, now: datetime, now_option: StartOption,
                    later: Iterable[StartOption],
                    policy: DeferralPolicy | None = None) -> Deferral:
    """Defer to the cheapest later start that finishes in time, or not, and why."""
    policy = policy or DeferralPolicy()
    if job.urgency == Urgency.HIGH:
        return Deferral(False, Verdict.URGENT, "urgent jobs are never deferred")
    if job.confidentiality == Confidentiality.CONFIDENTIAL:
        return Deferral(False, Verdict.CONFIDENTIAL,
                        "a confidential job is not deferred: it queues for a local GPU")
    deadline = deadline_of(job, policy)
    if deadline is None:
        return Deferral(False, Verdict.NO_DEADLINE,
                        f"no deadline is set for {job.urgency} jobs, so none bounds a deferral")
    in_time = [o for o in later
               if o.start > now and o.start <= latest_start(deadline, o.runtime_s, policy)]
    if not in_time:
        return Deferral(False, Verdict.DEADLINE, f"no later start finishes with room before "
                        f"the deadline {_clock(deadline)}", deadline=deadline)
    best = min(in_time, key=lambda o: (o.cost, o.start))
    saving = now_option.cost - best.cost
    enough = max(policy.min_saving, policy.min_saving_share * now_option.cost)
    if saving < enough:
        return Deferral(False, Verdict.NOT_CHEAPER,
                        f"the cheapest start in time ({best.where} at {_clock(best.start)}) "
                        f"saves {saving:.2f}, under {enough:.2f}", deadline=deadline)
    return Deferral(True, Verdict.DEFERRED,
                    f"deferred to {best.where} at {_clock(best.start)}: saves {saving:.2f} "
                    f"of the {now_option.cost:.2f} that {now_option.where} costs now, and finishes "
                    f"before the deadline {_clock(deadline)}",
                    deadline=deadline, until=best.start, where=best.where, saving=saving)


# ---------------------------------------------------------------- later starts

def local_start(schedule: Schedule, backlog_s: float, now: datetime, runtime_s: float,
                cost_per_hour: float, where: str) -> StartOption | None:
    """A local GPU's next free moment: its schedule's open time after the work
    queued ahead (``now`` in the control plane's zone, as schedules are)."""
    wait = schedule.wait_s(now, backlog_s)
    if wait == float("inf"):
        return None
    return StartOption(start=now + timedelta(seconds=wait),
                       cost=cost_per_hour * runtime_s / HOUR_S, runtime_s=runtime_s, where=where)


def spot_price_by_hour(history: Iterable[tuple[datetime, float]]) -> dict[int, float]:
    """Mean spot price per UTC hour of the week from observed (moment, price) pairs."""
    sums: dict[int, list[float]] = {}
    for moment, price in history:
        total = sums.setdefault(hour_of_week(moment), [0.0, 0.0])
        total[0] += price
        total[1] += 1
    return {hour: s / n for hour, (s, n) in sums.items()}


def spot_starts(prices: Mapping[int, float], now: datetime, horizon_s: float,
                runtime_s: float, where: str, overhead_s: float = 0.0) -> list[StartOption]:
    """A start at each coming hour within ``horizon_s``, priced by the hours its
    run (plus boot and upload ``overhead_s``) spans; hours never seen are skipped."""
    options: list[StartOption] = []
    first = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    billed = runtime_s + overhead_s
    for step in range(int(horizon_s // HOUR_S)):
        start = first + timedelta(hours=step)
        price = _mean_price(prices, hour_of_week(start), billed)
        if price is not None:
            options.append(StartOption(start=start, cost=price * billed / HOUR_S,
                                       runtime_s=billed, where=where))
    return options


def _mean_price(prices: Mapping[int, float], first_hour: int, seconds: float) -> float | None:
    hours = max(1, int(-(-seconds // HOUR_S)))
    seen = [prices[(first_hour + i) % HOURS_PER_WEEK] for i in range(hours)
            if (first_hour + i) % HOURS_PER_WEEK in prices]
    return sum(seen) / len(seen) if len(seen) == hours else None


def _clock(moment: datetime) -> str:
    return moment.strftime("%a %d %b %H:%M %Z").strip()

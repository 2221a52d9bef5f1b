"""The dashboard's cost overview: the last days' local and cloud costs, the
savings of local GPUs, and a daily series for its charts (``costs`` owns
every figure; this module only adds them up by day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from aima_web.placement.models import PlacementPolicy
from aima_web.usage import costs
from aima_web.usage.costs import CLOUD, LOCAL


@dataclass(frozen=True)
class Day:
    day: date
    local_cost: float
    cloud_cost: float
    gpu_hours_local: float
    gpu_hours_cloud: float
    # Jobs that finished that day.
    jobs: int


@dataclass(frozen=True)
class CostOverview:
    start: datetime
    end: datetime
    local_energy: float
    local_depreciation: float
    # What cloud instances were billed (boot and idle time included).
    cloud: float
    # Local jobs' savings against the cheapest cloud alternative (may be negative).
    savings: float
    currency: str
    days: list[Day]

    @property
    def local(self) -> float:
        return self.local_energy + self.local_depreciation

    @property
    def total(self) -> float:
        return self.local + self.cloud


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in the control plane's time zone."""
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def cost_overview(days: int = 30, now: datetime | None = None) -> CostOverview:
    """The ``days`` calendar days up to ``now`` (today the last of them, until
    now), in the control plane's time zone."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, not {days}")
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    start = day_start(dates[0])
    jobs = costs.job_costs(start, now, now)
    bills = costs.instance_bills(start, now, now)
    series = [_day(day, jobs, bills, now) for day in dates]
    return CostOverview(
        start=start, end=now,
        local_energy=sum(job.energy * job.share(start, now) for job in jobs),
        local_depreciation=sum(job.depreciation * job.share(start, now) for job in jobs),
        cloud=costs.billed_total(bills, start, now),
        savings=sum(job.savings or 0.0 for job in jobs if job.finished_in(start, now)),
        currency=PlacementPolicy.current().currency, days=series)


def _day(day: date, jobs: list[costs.JobCost], bills: list[costs.InstanceBill],
         now: datetime) -> Day:
    lo, hi = day_start(day), min(day_start(day + timedelta(days=1)), now)
    local = [job for job in jobs if job.scope == LOCAL]
    cloud = [job for job in jobs if job.scope == CLOUD]
    return Day(day=day,
               local_cost=sum(job.cost * job.share(lo, hi) for job in local),
               cloud_cost=costs.billed_total(bills, lo, hi),
               gpu_hours_local=sum(job.hours * job.share(lo, hi) for job in local),
               gpu_hours_cloud=sum(job.hours * job.share(lo, hi) for job in cloud),
               jobs=sum(1 for job in jobs if job.finished_in(lo, hi)))

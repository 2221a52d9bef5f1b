"""The monthly usage report: per local GPU, provider, user and analysis the
jobs, GPU-hours, utilisation, cost and savings of one calendar month (in the
control plane's time zone), with optimisation suggestions drawn from them.

Figures come from ``costs`` and follow its rules: hours and cost count where
they were spent (clipped to the month), a job and its savings in the month it
finished. A cloud provider's cost is what its instances were billed, idle and
boot time included; a user's or an analysis's cost is its jobs' costs. A job's
analyses share its hours, cost and savings by ``costs.analysis_shares``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from aima_tasks.kernel.classification import GpuStatus
from aima_web.fleet.models import LocalGPU
from aima_web.placement.models import PlacementPolicy
from aima_web.usage import costs, suggestions
from aima_web.usage.costs import CLOUD, HOUR_S, LOCAL
from aima_web.usage.suggestions import Suggestion


class BadMonth(ValueError):
    """A month that is not one; the message names it."""


@dataclass(frozen=True)
class Row:
    name: str
    jobs: int
    gpu_hours: float
    cost: float
    savings: float
    # A local GPU's busy share of the month's hours (until now); None elsewhere.
    utilisation: float | None = None

    @property
    def utilisation_pct(self) -> float | None:
        return None if self.utilisation is None else self.utilisation * 100

    @property
    def cost_per_job(self) -> float | None:
        """Cost per analysis job finished in the month."""
        return self.cost / self.jobs if self.jobs else None

    @property
    def cost_per_gpu_hour(self) -> float | None:
        return self.cost / self.gpu_hours if self.gpu_hours else None


@dataclass
class _Tally:
    jobs: int = 0
    hours: float = 0.0
    cost: float = 0.0
    savings: float = 0.0

    def add(self, job: costs.JobCost, part: float, weight: float, counted: bool) -> None:
        self.jobs += 1 if counted else 0
        self.hours += job.hours * part * weight
        self.cost += job.cost * part * weight
        self.savings += (job.savings or 0.0) * weight if counted else 0.0

    def row(self, name: str, cost: float | None = None,
            utilisation: float | None = None) -> Row:
        return Row(name=name, jobs=self.jobs, gpu_hours=self.hours,
                   cost=self.cost if cost is None else cost, savings=self.savings,
                   utilisation=utilisation)


@dataclass(frozen=True)
class MonthlyReport:
    year: int
    month: int
    start: datetime
    end: datetime
    # Hours of the month so far (all of it once it is over).
    hours: float
    currency: str
    gpus: list[Row]
    providers: list[Row]
    users: list[Row]
    analyses: list[Row]
    local_energy: float
    local_depreciation: float
    cloud: float
    savings: float
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def total(self) -> float:
        return self.local_energy + self.local_depreciation + self.cloud


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first moments of the month and of the next, in the control plane's time zone."""
    if not 1 <= month <= 12 or not 2000 <= year <= 9999:
        raise BadMonth(f"{year:04d}-{month:02d} is not a month; write it like 2026-03")
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    return (timezone.make_aware(datetime(year, month, 1)),
            timezone.make_aware(datetime(after[0], after[1], 1)))


def parse_month(text: str) -> tuple[int, int]:
    """'2026-03' -> (2026, 3); BadMonth naming the text otherwise."""
    parts = text.split("-")
    if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2 \
            or not all(p.isascii() and p.isdigit() for p in parts):
        raise BadMonth(f"{text!r} is not a month; write it like 2026-03")
    year, month = int(parts[0]), int(parts[1])
    month_bounds(year, month)
    return year, month


def monthly_report(year: int, month: int, now: datetime | None = None) -> MonthlyReport:
    now = now or timezone.now()
    start, after = month_bounds(year, month)
    end = max(min(after, now), start)
    jobs = costs.job_costs(start, end, now)
    bills = costs.instance_bills(start, end, now)
    hours = (end - start).total_seconds() / HOUR_S
    gpus = _gpu_rows(jobs, start, end, hours)
    local = [job for job in jobs if job.scope == LOCAL]
    report = MonthlyReport(
        year=year, month=month, start=start, end=end, hours=hours,
        currency=PlacementPolicy.current().currency, gpus=gpus,
        providers=_provider_rows(jobs, bills, start, end),
        users=_rows(jobs, start, end, lambda job: {job.owner: 1.0}),
        analyses=_rows(jobs, start, end, lambda job: job.analyses),
        local_energy=sum(job.energy * job.share(start, end) for job in local),
        local_depreciation=sum(job.depreciation * job.share(start, end) for job in local),
        cloud=costs.billed_total(bills, start, end),
        savings=sum(job.savings or 0.0 for job in local if job.finished_in(start, end)))
    report.suggestions.extend(suggestions.suggest(report, jobs, bills))
    return report


def _rows(jobs: list[costs.JobCost], start: datetime, end: datetime, keys) -> list[Row]:
    """Rows by the keys ``keys(job)`` gives, each with the job's share it takes."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for job in jobs:
        part, counted = job.share(start, end), job.finished_in(start, end)
        for key, weight in keys(job).items():
            tallies[key].add(job, part, weight, counted)
    return [tally.row(name) for name, tally in sorted(tallies.items())]


def _gpu_rows(jobs: list[costs.JobCost], start: datetime, end: datetime,
              hours: float) -> list[Row]:
    """Every local GPU in service, and any retired one that worked in the month."""
    tallies: dict[int, _Tally] = defaultdict(_Tally)
    for job in jobs:
        if job.scope == LOCAL and job.gpu_id is not None:
            tallies[job.gpu_id].add(job, job.share(start, end), 1.0, job.finished_in(start, end))
    rows = []
    for gpu in LocalGPU.objects.order_by("id"):
        if gpu.status == GpuStatus.RETIRED and gpu.id not in tallies:
            continue
        tally = tallies.get(gpu.id, _Tally())
        rows.append(tally.row(gpu_name(gpu), utilisation=tally.hours / hours if hours else None))
    return rows


def gpu_name(gpu: LocalGPU) -> str:
    return f"#{gpu.id} {gpu.model} @ {gpu.host}"


def _provider_rows(jobs: list[costs.JobCost], bills: list[costs.InstanceBill],
                   start: datetime, end: datetime) -> list[Row]:
    """The local fleet as one provider, then each cloud provider at what its
    instances were billed in the month."""
    local = _rows([job for job in jobs if job.scope == LOCAL], start, end,
                  lambda job: {LOCAL: 1.0})
    cloud = {row.name: row for row in _rows([job for job in jobs if job.scope == CLOUD],
                                            start, end, lambda job: {job.provider: 1.0})}
    billed: dict[str, float] = defaultdict(float)
    for bill in bills:
        billed[bill.provider] += bill.cost
    rows = [Row(name=name, jobs=cloud[name].jobs if name in cloud else 0,
                gpu_hours=cloud[name].gpu_hours if name in cloud else 0.0,
                cost=billed.get(name, 0.0), savings=0.0)
            for name in sorted(set(cloud) | set(billed))]
    return local + rows

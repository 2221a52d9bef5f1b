"""Cost accounting: what each job cost and where it ran, and what cloud
instances were billed, within a window of time. The one place usage reports
and the dashboard take money figures from.

- A local job costs its running hours times its GPU's hourly rate, split into
  energy and depreciation by the placement engine's own formula
  (``local_cost_per_hour``), at the placement policy's current energy price
  (no history of the price is kept).
- A cloud job costs what the instance charged it (``Job.cost``: its running
  seconds at the instance's price), or that figure reckoned now while it runs.
- Cloud spend is what instances were billed (``instances.billing``): boot and
  idle time included, so it is more than the sum of its jobs' costs.
- A local job's savings are the cheapest cloud alternative its placement
  decision listed minus what it cost locally. They may be negative (a local
  GPU dearer than the cloud, kept within the policy's tolerance or for
  confidentiality): clamping them at zero would overstate what the fleet saves.
  A job whose decision listed no cloud alternative has none (None).

Figures inside a window are clipped to it: hours and cost of a job running
across midnight or a month's end count where they were spent; a job itself
(and its savings) counts in the window it finished in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Q

from aima_tasks.kernel.placement import local_cost_per_hour
from aima_tasks.kernel.routing import Scope
from aima_web.fleet.models import LocalGPU
from aima_web.instances import billing
from aima_web.instances.models import CloudInstance
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement.models import PlacementPolicy

LOCAL = Scope.LOCAL.value
CLOUD = Scope.CLOUD.value
HOUR_S = 3600.0


@dataclass(frozen=True)
class LocalRate:
    """A local GPU's cost of an hour's work, in its two parts."""

    energy: float
    depreciation: float

    @property
    def total(self) -> float:
        return self.energy + self.depreciation


def local_rate(gpu: LocalGPU, price_per_kwh: float) -> LocalRate:
    """The engine's local cost per hour, asked once with the purchase left out
    (energy) and once with the power left out (depreciation)."""
    price, lifetime = float(gpu.purchase_price), gpu.lifetime_hours
    return LocalRate(energy=local_cost_per_hour(gpu.power_watts, price_per_kwh, 0.0, lifetime),
                     depreciation=local_cost_per_hour(0.0, price_per_kwh, price, lifetime))


def overlap_s(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    """Seconds of [start, end) inside [lo, hi)."""
    return max((min(end, hi) - max(start, lo)).total_seconds(), 0.0)


@dataclass(frozen=True)
class JobCost:
    """One job's whole run and what it cost; ``within`` clips it to a window."""

    job_id: str
    scope: str
    # "local" for the local fleet, else the cloud provider.
    provider: str
    gpu_id: int | None
    gpu_model: str
    owner: str
    # Each analysis's share of the job's work (sums to 1).
    analyses: dict[str, float]
    started: datetime
    ended: datetime
    finished: datetime | None
    energy: float = 0.0
    depreciation: float = 0.0
    cloud: float = 0.0
    savings: float | None = None

    @property
    def cost(self) -> float:
        return self.energy + self.depreciation + self.cloud

    @property
    def hours(self) -> float:
        return (self.ended - self.started).total_seconds() / HOUR_S

    def share(self, lo: datetime, hi: datetime) -> float:
        """The part of the run inside [lo, hi); a run of no length lies where it ended."""
        length = (self.ended - self.started).total_seconds()
        if length <= 0:
            return 1.0 if lo <= self.ended < hi else 0.0
        return overlap_s(self.started, self.ended, lo, hi) / length

    def finished_in(self, lo: datetime, hi: datetime) -> bool:
        return self.finished is not None and lo <= self.finished < hi


def job_costs(lo: datetime, hi: datetime, now: datetime) -> list[JobCost]:
    """Every job that ran during [lo, hi) (until ``now`` if still running),
    with its whole run's cost."""
    jobs = (Job.objects.filter(running_at__isnull=False, running_at__lt=hi)
            .filter(Q(finished_at__gte=lo) | Q(finished_at__isnull=True, state=JobState.RUNNING))
            .select_related("owner", "gpu", "agent__instance")
            .prefetch_related("results"))
    price_per_kwh = float(PlacementPolicy.current().energy_price_per_kwh)
    return [job_cost(job, now, price_per_kwh) for job in jobs]


def job_cost(job: Job, now: datetime, price_per_kwh: float) -> JobCost:
    placement = job.placement or {}
    choice = placement.get("choice") or {}
    ended = job.finished_at or now
    base = dict(job_id=str(job.id), owner=job.owner.get_username(),
                analyses=analysis_shares(job), started=job.running_at,
                ended=max(ended, job.running_at), finished=job.finished_at)
    instance = _instance(job)
    scope = job.agent.scope if job.agent is not None else placement.get("scope") or LOCAL
    if scope == CLOUD:
        provider = instance.provider if instance else choice.get("provider", "")
        model = instance.gpu_model if instance else choice.get("gpu_model", "")
        cost = job.cost
        if cost is None:
            price = instance.price_per_hour if instance else float(choice.get("price_per_hour")
                                                                   or 0.0)
            cost = billing.cost(price, (base["ended"] - job.running_at).total_seconds())
        return JobCost(scope=CLOUD, provider=provider, gpu_id=None, gpu_model=model, cloud=cost,
                       **base)
    hours = (base["ended"] - job.running_at).total_seconds() / HOUR_S
    rate = local_rate(job.gpu, price_per_kwh) if job.gpu else LocalRate(0.0, 0.0)
    local = rate.total * hours
    cheapest = cheapest_cloud(placement)
    return JobCost(scope=LOCAL, provider=LOCAL, gpu_id=job.gpu_id,
                   gpu_model=job.gpu.model if job.gpu else choice.get("gpu_model", ""),
                   energy=rate.energy * hours, depreciation=rate.depreciation * hours,
                   # A GPU since deleted cost what nobody knows: no savings to claim.
                   savings=None if cheapest is None or job.gpu is None else cheapest - local,
                   **base)


def _instance(job: Job) -> CloudInstance | None:
    if job.agent is None:
        return None
    try:
        return job.agent.instance
    except CloudInstance.DoesNotExist:
        return None


def cheapest_cloud(placement: dict) -> float | None:
    """The expected cost of the cheapest cloud option the decision listed as
    an alternative; None where it listed none."""
    costs = [float(alt["cost"]) for alt in placement.get("alternatives") or ()
             if alt.get("scope") == CLOUD and alt.get("cost") is not None]
    return min(costs, default=None)


def analysis_shares(job: Job) -> dict[str, float]:
    """Each analysis's share of the job: by its result's running time where
    every analysis has one that took time, else equal shares."""
    names = list(dict.fromkeys(job.analyses or job.requested_analyses or []))
    if not names:
        return {}
    seconds = {result.analysis: result.duration_s for result in job.results.all()}
    if all(seconds.get(name, 0.0) > 0 for name in names):
        total = sum(seconds[name] for name in names)
        return {name: seconds[name] / total for name in names}
    return {name: 1 / len(names) for name in names}


# ---------------------------------------------------------------- cloud billing

@dataclass(frozen=True)
class InstanceBill:
    """One instance: what it was billed inside a window, and what it is."""

    instance_id: int
    provider: str
    gpu_model: str
    state: str
    requested_at: datetime
    launched_at: datetime | None
    ended: datetime | None
    price_per_hour: float
    cost: float = 0.0

    def billed(self, lo: datetime, hi: datetime) -> float:
        """What it was billed inside [lo, hi)."""
        if self.launched_at is None or self.ended is None:
            return 0.0
        return billing.cost(self.price_per_hour, overlap_s(self.launched_at, self.ended, lo, hi))


def instance_bills(lo: datetime, hi: datetime, now: datetime) -> list[InstanceBill]:
    """Every instance billed during [lo, hi) or requested in it (a launch that
    failed is billed nothing but counts against its provider), billed until
    ``now`` while it runs; ``cost`` is its bill inside the window."""
    rows = (CloudInstance.objects
            .filter(Q(requested_at__gte=lo, requested_at__lt=hi)
                    | Q(launched_at__lt=hi)
                    & (Q(terminated_at__isnull=True) | Q(terminated_at__gte=lo))))
    bills = []
    for row in rows:
        ended = None
        if row.launched_at is not None:
            ended = max(min(row.terminated_at or now, now), row.launched_at)
        bill = InstanceBill(instance_id=row.pk, provider=row.provider, gpu_model=row.gpu_model,
                            state=row.state, requested_at=row.requested_at,
                            launched_at=row.launched_at, ended=ended,
                            price_per_hour=row.price_per_hour)
        bills.append(replace(bill, cost=bill.billed(lo, hi)))
    return bills


def billed_total(bills: Iterable[InstanceBill], lo: datetime, hi: datetime) -> float:
    return sum(bill.billed(lo, hi) for bill in bills)

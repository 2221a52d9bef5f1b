"""Everything the dashboard shows, gathered as plain data in one place, so
that the template only lays it out (and a database fault surfaces here, in
the view, not halfway through rendering).

Money comes from aima_web.usage (cost_overview for the 30 days, job_cost for
each recent job): nothing is reckoned here a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.safestring import SafeString

from aima_web.alerts.evaluate import recent_alerts
from aima_web.alerts.models import Alert
from aima_web.dashboard import charts
from aima_web.dashboard.fleet import Fleet, fleet
from aima_web.dashboard.queues import Queues, queues
from aima_web.jobs.models import Job
from aima_web.jobs.states import TERMINAL
from aima_web.placement.models import PlacementPolicy
from aima_web.usage import costs
from aima_web.usage.overview import CostOverview, cost_overview

DAYS = 30
RECENT_JOBS = 20
ALERTS = 20
LOCAL_COLOUR, CLOUD_COLOUR = "#3d6fd1", "#e08a2c"


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    media_name: str
    owner: str
    state: str
    finished_at: datetime
    # Where it ran: "local", a cloud provider, or "" (it never ran).
    ran_on: str
    gpu_model: str
    # What its run cost (None: it never ran, so nothing).
    cost: float | None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    fleet: Fleet
    queues: Queues
    costs: CostOverview
    daily_costs: SafeString
    daily_utilisation: SafeString
    recent_jobs: list[FinishedJob]
    alerts: list[Alert]


def gather(now: datetime) -> Dashboard:
    gpus = fleet(now)
    overview = cost_overview(DAYS, now)
    return Dashboard(
        now=now, fleet=gpus, queues=queues(now), costs=overview,
        daily_costs=cost_chart(overview),
        daily_utilisation=utilisation_chart(overview, len(gpus.local)),
        recent_jobs=recent_jobs(now), alerts=recent_alerts(ALERTS))


def recent_jobs(now: datetime, limit: int = RECENT_JOBS) -> list[FinishedJob]:
    """The last jobs that ended within the 30 days, newest first, with what
    each cost as the usage reports count it."""
    rows = (Job.objects.filter(state__in=TERMINAL, finished_at__isnull=False,
                               finished_at__gte=now - timedelta(days=DAYS))
            .select_related("owner", "gpu", "agent__instance")
            .prefetch_related("results").order_by("-finished_at")[:limit])
    price_per_kwh = float(PlacementPolicy.current().energy_price_per_kwh)
    found = []
    for job in rows:
        cost = costs.job_cost(job, now, price_per_kwh) if job.running_at else None
        found.append(FinishedJob(
            job_id=str(job.pk), media_name=job.media_name, owner=job.owner.get_username(),
            state=job.state, finished_at=job.finished_at,
            ran_on=cost.provider if cost else "", gpu_model=cost.gpu_model if cost else "",
            cost=cost.cost if cost else None))
    return found


def cost_chart(overview: CostOverview) -> SafeString:
    currency = overview.currency
    bars = [charts.Bar(
        label=day.day.isoformat(), values=(day.local_cost, day.cloud_cost),
        tip=(f"{day.day.isoformat()}: local {day.local_cost:.2f} {currency}, "
             f"cloud {day.cloud_cost:.2f} {currency}, {day.jobs} jobs finished"))
        for day in overview.days]
    return charts.stacked_bars(
        "daily-costs-chart", f"Cost per day ({currency}), last {len(bars)} days", currency,
        [charts.Series("local", LOCAL_COLOUR), charts.Series("cloud", CLOUD_COLOUR)], bars)


def utilisation_chart(overview: CostOverview, local_gpus: int) -> SafeString:
    """GPU-hours worked per day; a bar's tip also gives the local GPUs'
    utilisation, the hours worked out of those of the GPUs in service now."""
    bars = []
    for day in overview.days:
        tip = (f"{day.day.isoformat()}: local {day.gpu_hours_local:.1f} GPU-hours, "
               f"cloud {day.gpu_hours_cloud:.1f} GPU-hours")
        if local_gpus:
            tip += f"; local utilisation {day.gpu_hours_local / (local_gpus * 24):.0%}"
        bars.append(charts.Bar(label=day.day.isoformat(),
                               values=(day.gpu_hours_local, day.gpu_hours_cloud), tip=tip))
    return charts.stacked_bars(
        "daily-utilisation-chart", f"GPU-hours per day, last {len(bars)} days", "h",
        [charts.Series("local", LOCAL_COLOUR), charts.Series("cloud", CLOUD_COLOUR)], bars)

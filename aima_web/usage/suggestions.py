"""Optimisation suggestions drawn from a month's usage: an idle local GPU, a
GPU class always rented whose cloud spend would pay back buying one, and a
provider whose instances failed often."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aima_tasks.kernel.placement.performance import normalise
from aima_web.fleet.models import LocalGPU
from aima_web.instances.models import InstanceState
from aima_web.placement.models import PlacementPolicy
from aima_web.usage import costs
from aima_web.usage.costs import CLOUD, LOCAL

if TYPE_CHECKING:
    from aima_web.usage.report import MonthlyReport

# A local GPU busy less than this share of the month is idle.
IDLE_SHARE = 0.05
# A provider whose instances failed this often (of those requested in the month) fails often.
FAILURE_SHARE = 0.2
# Hours of a month that must have passed before a GPU can look idle in it: an
# hour into the 1st, every GPU would.
IDLE_AFTER_HOURS = 24.0
HOURS_PER_MONTH = 730.0  # 8760 / 12: a write-off in months


@dataclass(frozen=True)
class Suggestion:
    # idle_gpu, buy_gpu or failing_provider.
    kind: str
    subject: str
    text: str


def suggest(report: MonthlyReport, jobs: list[costs.JobCost],
            bills: list[costs.InstanceBill]) -> list[Suggestion]:
    return [*idle_gpus(report), *purchases(report, jobs, bills), *failing_providers(report, bills)]


def idle_gpus(report: MonthlyReport) -> list[Suggestion]:
    if report.hours < IDLE_AFTER_HOURS:
        return []
    return [Suggestion(
        kind="idle_gpu", subject=row.name,
        text=f"{row.name} worked {row.gpu_hours:.1f} GPU-hours, {row.utilisation:.1%} of the "
             f"month: widen its schedule or access groups, or retire it.")
        for row in report.gpus if row.utilisation is not None and row.utilisation < IDLE_SHARE]


def purchases(report: MonthlyReport, jobs: list[costs.JobCost],
              bills: list[costs.InstanceBill]) -> list[Suggestion]:
    """GPU models (normalised) no local GPU ran a job on this month while the
    cloud was billed for them: months until buying one pays back, at the
    purchase price of a registered GPU of that model, net of its energy for
    the same hours."""
    local_models = {normalise(job.gpu_model) for job in jobs if job.scope == LOCAL}
    spend: dict[str, float] = defaultdict(float)
    # Each model as the providers name it (the first instance's), for the text.
    names: dict[str, str] = {}
    for bill in bills:
        spend[normalise(bill.gpu_model)] += bill.cost
        names.setdefault(normalise(bill.gpu_model), bill.gpu_model)
    hours: dict[str, float] = defaultdict(float)
    for job in jobs:
        if job.scope == CLOUD:
            hours[normalise(job.gpu_model)] += job.hours * job.share(report.start, report.end)
    price_per_kwh = float(PlacementPolicy.current().energy_price_per_kwh)
    found = []
    for model, spent in sorted(spend.items()):
        if not model or model in local_models or spent <= 0:
            continue
        found.append(_purchase(model, names[model], spent, hours[model], price_per_kwh,
                               report.currency))
    return found


def _purchase(model: str, name: str, spent: float, hours: float, price_per_kwh: float,
              currency: str) -> Suggestion:
    rented = f"{name}: always rented, {spent:.2f} {currency} of cloud this month"
    reference = next((gpu for gpu in LocalGPU.objects.filter(purchase_price__gt=0).order_by("id")
                      if normalise(gpu.model) == model), None)
    if reference is None:
        return Suggestion(kind="buy_gpu", subject=name,
                          text=f"{rented}; no purchase price known (register a GPU of this "
                               f"model with its price to see when buying one pays back).")
    energy = costs.local_rate(reference, price_per_kwh).energy * hours
    net = spent - energy
    price = float(reference.purchase_price)
    if net <= 0:
        return Suggestion(kind="buy_gpu", subject=name,
                          text=f"{rented}; its energy locally would cost as much: buying one "
                               f"({price:.2f} {currency}) would not pay back.")
    months = price / net
    lifetime = reference.lifetime_hours / HOURS_PER_MONTH
    within = "within" if months <= lifetime else "beyond"
    return Suggestion(kind="buy_gpu", subject=name,
                      text=f"{rented}; buying one (as GPU #{reference.id}, {price:.2f} "
                           f"{currency}) would pay back in {months:.1f} months at this rate, "
                           f"{within} its {lifetime:.0f}-month write-off.")


def failing_providers(report: MonthlyReport,
                      bills: list[costs.InstanceBill]) -> list[Suggestion]:
    requested: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for bill in bills:
        if report.start <= bill.requested_at < report.end:
            requested[bill.provider] += 1
            failed[bill.provider] += bill.state == InstanceState.FAILED
    return [Suggestion(
        kind="failing_provider", subject=provider,
        text=f"{provider}: {failed[provider]} of {count} instances failed "
             f"({failed[provider] / count:.0%}): lower its priority or raise the policy's "
             f"minimum reliability.")
        for provider, count in sorted(requested.items())
        if failed[provider] and failed[provider] / count >= FAILURE_SHARE]

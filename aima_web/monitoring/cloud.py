"""Cloud series: this month's spend (aima_web.instances.billing), the hourly
rate of the instances that bill now, the budget, and each instance's state,
price and idle time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import Metric

from aima_web.instances import billing
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.states import AVAILABLE, BILLABLE
from aima_web.monitoring.families import gauge
from aima_web.placement.models import SINGLETON_ID, PlacementPolicy


def current_policy() -> PlacementPolicy:
    """The stored policy, or its defaults unsaved: a scrape writes nothing
    (PlacementPolicy.current() would create the row)."""
    return PlacementPolicy.objects.filter(pk=SINGLETON_ID).first() or PlacementPolicy()


def spend_families(now: datetime, policy: PlacementPolicy) -> Iterator[Metric]:
    month = gauge("aima_cloud_spend_month")
    month.add_metric([], billing.billed_this_month(now))
    yield month
    budget = gauge("aima_cloud_budget_month")
    if policy.monthly_budget is not None:  # no budget: no sample, so no alert can fire
        budget.add_metric([], float(policy.monthly_budget))
    yield budget


def instance_families(now: datetime) -> Iterator[Metric]:
    """"Running" is every state the provider may bill in (states.BILLABLE);
    idle time is counted for those with an agent and no job (ready or idle)."""
    instances = list(CloudInstance.objects.order_by("pk"))
    counts = Counter((i.state, i.provider) for i in instances)
    by_state = gauge("aima_cloud_instances")
    for provider in sorted({i.provider for i in instances}):
        for state in InstanceState:
            by_state.add_metric([state.value, provider], counts[(state.value, provider)])
    per_hour, price, idle = (gauge("aima_cloud_spend_per_hour"),
                             gauge("aima_cloud_instance_price_per_hour"),
                             gauge("aima_cloud_instance_idle_seconds"))
    billing_now = [i for i in instances if i.state in BILLABLE]
    # A paused instance bills its storage only (billing.price_now).
    per_hour.add_metric([], sum(billing.price_now(i) for i in billing_now))
    for instance in billing_now:
        price.add_metric([instance.name, instance.provider, instance.gpu_model],
                         billing.price_now(instance))
        idle_s = 0.0
        if instance.state in AVAILABLE and instance.idle_since is not None:
            idle_s = max((now - instance.idle_since).total_seconds(), 0.0)
        idle.add_metric([instance.name, instance.provider], idle_s)
    yield from (by_state, per_hour, price, idle)

"""What renting cloud GPUs has cost: running seconds at the price per hour and
paused seconds at the paused (storage) price, per instance."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from aima_web.instances.models import CloudInstance
from aima_web.instances.states import BILLED_PAUSED


def cost(price_per_hour: float, seconds: float) -> float:
    """What ``seconds`` of an instance cost at its hourly price."""
    return price_per_hour * seconds / 3600


def instance_cost(instance: CloudInstance, begin: datetime | None = None,
                  until: datetime | None = None) -> float:
    """What the instance was billed from ``begin`` (default: its launch) until
    its end or ``until``: its running time at its price, its paused time at
    the paused price."""
    if instance.launched_at is None:
        return 0.0
    start = max(instance.launched_at, begin) if begin else instance.launched_at
    end = instance.terminated_at or until or timezone.now()
    if until is not None:
        end = min(end, until)
    billed_s = max((end - start).total_seconds(), 0.0)
    paused_s = min(instance.paused_seconds(begin=start, until=end), billed_s)
    return (cost(instance.price_per_hour, billed_s - paused_s)
            + cost(instance.paused_price_per_hour or 0.0, paused_s))


def price_now(instance: CloudInstance) -> float:
    """What the instance bills per hour in its present state."""
    if instance.state in BILLED_PAUSED:
        return instance.paused_price_per_hour or 0.0
    return instance.price_per_hour


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s calendar month in the control plane's time zone."""
    return timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def billed_this_month(now: datetime) -> float:
    """What every instance has been billed this month until ``now``; one that
    is still running counts until now, one launched last month from the start
    of this one; paused time at the paused price."""
    start = month_start(now)
    return sum(instance_cost(instance, begin=start, until=now)
               for instance in CloudInstance.objects.filter(
                   launched_at__isnull=False, launched_at__lt=now)
               .filter(Q(terminated_at__isnull=True) | Q(terminated_at__gte=start)))

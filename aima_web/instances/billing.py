"""What renting cloud GPUs has cost: billed seconds times the price, per instance."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from aima_web.instances.models import CloudInstance


def cost(price_per_hour: float, seconds: float) -> float:
    """What ``seconds`` of an instance cost at its hourly price."""
    return price_per_hour * seconds / 3600


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s calendar month in the control plane's time zone."""
    return timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def billed_this_month(now: datetime) -> float:
    """What every instance has been billed this month until ``now``; one that
    is still running counts until now, one launched last month from the start
    of this one."""
    start = month_start(now)
    total = 0.0
    for instance in CloudInstance.objects.filter(launched_at__isnull=False, launched_at__lt=now) \
            .filter(Q(terminated_at__isnull=True) | Q(terminated_at__gte=start)):
        begin = max(instance.launched_at, start)
        end = min(instance.terminated_at or now, now)
        total += cost(instance.price_per_hour, max((end - begin).total_seconds(), 0.0))
    return total

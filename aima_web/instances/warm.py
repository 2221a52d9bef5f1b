"""Warm capacity (seed 003 §6.2, 004 §8.2): an instance asked for ahead of a
burst of cloud work the job history forecasts, so that the burst's first job
finds it booted instead of waiting a whole boot.

From the cloud jobs of the last weeks (when each wanted a GPU of its class),
``kernel/forecast.py`` gives the expected arrivals per class in any span. When
jobs of a class are expected within the next boot time plus a margin and no
instance of that class is available, coming, paused or just asked for, one is
requested now, if the waiting it saves is worth more than it costs:

- waiting saved: the chance that any job comes in the window (arrivals as
  Poisson, 1 - e^-expected) times one boot, the wait the first job is spared;
  valued at ``AIMA_WARM_VALUE_PER_WAIT_HOUR``;
- cost: its price per hour over the time it may idle for nothing: the margin
  when a job comes, the whole window and the idle grace when none does.

Settings: ``AIMA_WARM_VALUE_PER_WAIT_HOUR``, what an hour of a job's waiting is
worth (the policy's currency); ``AIMA_WARM_MARGIN_S``, how far beyond a boot a
burst is looked for.

Queued work is not this module's: ``capacity.ensure_capacity`` rents for it.
Every request is audited (``instance.warm_requested``) with these numbers.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.forecast import DemandForecast
from aima_tasks.kernel.placement import Offer
from aima_web.audit import trail
from aima_web.instances import capacity
from aima_web.instances.demand_history import cloud_forecast
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.offers import next_offer
from aima_web.instances.states import WAITING_FOR_WORK

log = logging.getLogger(__name__)

# The expected arrivals within a class's window that make a burst.
MIN_JOBS = 1.0
# Renting a GPU ahead of a burst is only worth it for a burst that recurs: an
# hour-of-the-week pattern cannot be read from less than a week of history
# (a young deployment's first job would otherwise forecast a burst of them).
MIN_HISTORY = timedelta(weeks=1)
# Boots observed per class that the expected boot time is the median of.
OBSERVED_BOOTS = 20
# Present for a burst: it will take work, or can be resumed for it (pause states,
# where the instance lifecycle has them).
PRESENT = WAITING_FOR_WORK | frozenset(
    s for s in InstanceState if s.value in ("pausing", "paused", "resuming"))


@dataclass(frozen=True)
class WarmChoice:
    """Whether one instance of ``gpu_class`` is asked for ahead, with the numbers."""

    gpu_class: int
    request: bool
    reason: str
    expected_jobs: float = 0.0
    window_s: float = 0.0
    boot_s: float = 0.0
    wait_saved_h: float = 0.0
    value: float = 0.0
    cost: float = 0.0
    provider: str = ""
    offer_id: str = ""
    price_per_hour: float = 0.0

    def to_dict(self) -> dict:
        return {key: round(value, 6) if isinstance(value, float) else value
                for key, value in asdict(self).items()}


def boot_s(gpu_class: int, offer: Offer) -> float:
    """How long an instance of the class takes to serve: the median of its
    recent boots (launch to agent), else what the offer says."""
    recent = (CloudInstance.objects.filter(gpu_class=gpu_class, launched_at__isnull=False,
                                           ready_at__isnull=False)
              .order_by("-ready_at").values_list("launched_at", "ready_at")[:OBSERVED_BOOTS])
    seconds = [(ready - launched).total_seconds() for launched, ready in recent
               if ready >= launched]
    return statistics.median(seconds) if seconds else float(offer.boot_s)


def weigh(gpu_class: int, expected: float, boot: float, offer: Offer) -> WarmChoice:
    """Is one instance ahead worth it? Pure arithmetic over the figures given."""
    return weigh_price(gpu_class, expected, boot, offer.price_per_hour, offer.provider,
                       offer.key)


def weigh_price(gpu_class: int, expected: float, boot: float, price_per_hour: float,
                provider: str, offer_id: str) -> WarmChoice:
    """``weigh`` for an instance of ``price_per_hour`` from ``provider``."""
    margin = float(settings.AIMA_WARM_MARGIN_S)
    window = boot + margin
    some = 1.0 - math.exp(-max(expected, 0.0))
    saved_h = some * boot / 3600
    value = saved_h * settings.AIMA_WARM_VALUE_PER_WAIT_HOUR
    idle_s = some * margin + (1.0 - some) * (window + settings.AIMA_IDLE_GRACE_S)
    cost = price_per_hour * idle_s / 3600
    figures = dict(gpu_class=gpu_class, expected_jobs=expected, window_s=window, boot_s=boot,
                   wait_saved_h=saved_h, value=value, cost=cost, provider=provider,
                   offer_id=offer_id, price_per_hour=price_per_hour)
    if value <= cost:
        return WarmChoice(request=False, reason=(
            f"not worth it: {expected:.2f} job(s) expected within {window:.0f} s would save "
            f"{saved_h * 60:.1f} min of waiting, worth {value:.2f}, less than the "
            f"{cost:.2f} the instance may cost idle"), **figures)
    return WarmChoice(request=True, reason=(
        f"{expected:.2f} job(s) of the {gpu_class} GB class expected within {window:.0f} s: "
        f"an instance booted ahead saves {saved_h * 60:.1f} min of waiting, worth "
        f"{value:.2f}, more than the {cost:.2f} it may cost idle"), **figures)


def choose(gpu_class: int, demand: DemandForecast,
           now: datetime) -> tuple[WarmChoice, Offer | None]:
    """The choice for one class: nothing of it present or just asked for, a burst
    expected within its boot time and margin, an offer to rent, worth it, within
    the caps; with the offer to rent."""
    if CloudInstance.objects.filter(gpu_class=gpu_class, state__in=PRESENT).exists():
        return WarmChoice(gpu_class, False, "an instance of the class is there or coming"), None
    failed = capacity.recently_failed_offers(now).get(gpu_class, [])
    offer = next_offer(gpu_class, failed, set())
    if offer is None:
        return WarmChoice(gpu_class, False, "no offer of the class to rent"), None
    boot = boot_s(gpu_class, offer)
    window = boot + settings.AIMA_WARM_MARGIN_S
    expected = demand.expected(gpu_class, now, window)
    if expected < MIN_JOBS:
        return WarmChoice(gpu_class, False, f"no burst: {expected:.2f} job(s) expected "
                                            f"within {window:.0f} s", expected_jobs=expected,
                          window_s=window, boot_s=boot), None
    # One ahead per window: an instance ended meanwhile (idle, failed) is not asked
    # for again and again while the same burst is still to come.
    if CloudInstance.objects.filter(gpu_class=gpu_class,
                                    requested_at__gte=now - timedelta(seconds=window)).exists():
        return WarmChoice(gpu_class, False, "an instance of the class was asked for within "
                                            "this window already"), None
    choice = weigh(gpu_class, expected, boot, offer)
    if choice.request:
        held = (capacity.budget_spent(now)
                or capacity.cap_reason(offer.provider, gpu_class, offer.price_per_hour))
        if held:
            return WarmChoice(**{**asdict(choice), "request": False, "reason": held}), None
    return choice, offer


def plan(now: datetime) -> list[tuple[WarmChoice, Offer | None]]:
    """The choice for every class the history knows that has no queued work (for
    that, ``ensure_capacity`` rents) and may see a burst within a boot timeout."""
    demand = cloud_forecast(now, MIN_HISTORY)
    queued = {want.gpu_class for want in capacity.cloud_demand()}
    # No boot takes longer than the boot timeout: a class quiet for that long
    # plus the margin needs no query about its instances and offers.
    horizon = settings.AIMA_BOOT_TIMEOUT_S + settings.AIMA_WARM_MARGIN_S
    return [choose(gpu_class, demand, now) for gpu_class in demand.classes
            if gpu_class not in queued
            and demand.expected(gpu_class, now, horizon) >= MIN_JOBS]


def ensure_warm(now: datetime | None = None) -> list[int]:
    """Request an instance ahead of each forecast burst worth it; return their ids."""
    now = now or timezone.now()
    created = []
    with transaction.atomic():
        # The same lock as ensure_capacity: neither reads "nothing of the class is
        # coming" while the other is creating a row for it.
        capacity.lock_capacity()
        for choice, offer in plan(now):
            if offer is not None and choice.request:
                created.append(request_ahead(choice, offer, now))
            else:
                log.info("warm capacity, %s GB class: %s", choice.gpu_class, choice.reason)
    return created


def request_ahead(choice: WarmChoice, offer: Offer, now: datetime) -> int:
    """A new instance for no job yet, its launch due now; audited with the numbers."""
    instance = CloudInstance.objects.create(
        provider=offer.provider, offer_id=offer.key, instance_type=offer.instance_type,
        gpu_model=offer.gpu_model, gpu_class=choice.gpu_class, region=offer.region,
        spot=False, price_per_hour=offer.price_per_hour, requested_at=now, due_at=now)
    trail.record(trail.SYSTEM, "instance.warm_requested", f"instance:{instance.pk}",
                 **choice.to_dict())
    return instance.pk


def keep_for_burst(instance: CloudInstance, now: datetime | None = None) -> WarmChoice:
    """Whether an idle instance is worth keeping (not paused, not ended) for a
    burst of its class forecast within the margin: the same weighing as asking
    for one ahead, its own boot being what the burst's first job is spared. For
    the idle pass (upkeep), so that an instance asked for ahead of a burst is
    still there when it comes."""
    now = now or timezone.now()
    margin = float(settings.AIMA_WARM_MARGIN_S)
    expected = cloud_forecast(now, MIN_HISTORY).expected(instance.gpu_class, now, margin)
    if expected < MIN_JOBS:
        return WarmChoice(instance.gpu_class, False, f"no burst: {expected:.2f} job(s) "
                                                     f"expected within {margin:.0f} s",
                          expected_jobs=expected, window_s=margin)
    boot = (instance.ready_at - instance.launched_at).total_seconds() if (
        instance.ready_at and instance.launched_at) else margin
    return weigh_price(instance.gpu_class, expected, max(boot, 0.0), instance.price_per_hour,
                       instance.provider, instance.offer_id)

"""Price history and each cloud provider's refresh status.

Every stored pricing (a provider's refresh or a snapshot load) is appended to
the history (``OfferPrice``), pruned after ``AIMA_PRICE_HISTORY_DAYS``. A
provider whose refresh fails keeps its stored offers, its last good prices:
placement goes on deciding from them until they pass the policy's max price
age, and its decisions say so (``outages`` feeds ``with_last_good_prices``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet

from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.placement.decision import PriceOutage
from aima_web.audit import trail
from aima_web.placement.models import CloudOffer, OfferPrice, ProviderRefresh

# Rows per INSERT (SQLite caps bound variables per statement).
BATCH = 500


def history_days() -> int:
    return settings.AIMA_PRICE_HISTORY_DAYS


def record_history(offers: Iterable[Offer]) -> None:
    """Append the offers' prices; a pricing already recorded (same key and
    time, e.g. a snapshot loaded twice) is not recorded again."""
    rows = {(o.key, o.priced_at): OfferPrice.from_offer(o) for o in offers}
    OfferPrice.objects.bulk_create(rows.values(), batch_size=BATCH, ignore_conflicts=True)


def prune_history(now: datetime) -> int:
    """Drop prices older than the retention; return how many went."""
    cutoff = now - timedelta(days=history_days())
    return OfferPrice.objects.filter(priced_at__lt=cutoff).delete()[0]


def history(key: str = "", provider: str = "", gpu_model: str = "",
            since: datetime | None = None) -> QuerySet[OfferPrice]:
    """Recorded prices, newest first, narrowed by whichever filters are given."""
    rows = OfferPrice.objects.order_by("-priced_at", "key")
    if key:
        rows = rows.filter(key=key)
    if provider:
        rows = rows.filter(provider=provider)
    if gpu_model:
        rows = rows.filter(gpu_model=gpu_model)
    if since is not None:
        rows = rows.filter(priced_at__gte=since)
    return rows


# ---------------------------------------------------------------- refresh status

def refresh_succeeded(provider: str, offer_count: int, now: datetime) -> None:
    """Record a refresh that stored ``offer_count`` offers; a provider that
    was failing is on record as recovered."""
    with transaction.atomic():
        row = _status_row(provider, now)
        recovered = row.failing_since is not None
        failures = row.failures
        row.last_attempt_at = row.last_success_at = now
        row.failing_since, row.last_error, row.failures = None, "", 0
        row.offer_count = offer_count
        row.save()
        if recovered:
            trail.record(trail.SYSTEM, "offers.refresh_recovered", f"provider:{provider}",
                         failures=failures, offers=offer_count)


def refresh_failed(provider: str, error: str, now: datetime) -> ProviderRefresh:
    """Record a failed refresh; its stored offers stay. The first failure
    after a success goes on the audit trail: an API down for a day would
    otherwise write an event every refresh."""
    with transaction.atomic():
        row = _status_row(provider, now)
        started = row.failing_since is None
        row.last_attempt_at, row.last_error = now, error
        row.failures += 1
        if started:
            row.failing_since = now
        row.save()
        if started:
            trail.record(trail.SYSTEM, "offers.refresh_failed", f"provider:{provider}",
                         error=error, last_success=_iso(row.last_success_at),
                         offers_kept=CloudOffer.objects.filter(provider=provider).count())
    return row


def _status_row(provider: str, now: datetime) -> ProviderRefresh:
    row, _ = (ProviderRefresh.objects.select_for_update()
              .get_or_create(provider=provider, defaults={"last_attempt_at": now}))
    return row


def outages() -> dict[str, PriceOutage]:
    """The providers whose last refresh failed and that still have stored
    offers, with when those were priced: placement's input for flagging
    decisions made from last good prices."""
    failing = {row.provider: row for row in ProviderRefresh.objects.filter(
        failing_since__isnull=False)}
    if not failing:
        return {}
    newest = dict(CloudOffer.objects.filter(provider__in=failing).order_by()
                  .values("provider").annotate(newest=Max("priced_at"))
                  .values_list("provider", "newest"))
    return {name: PriceOutage(provider=name, priced_at=_iso(priced_at),
                              failing_since=_iso(failing[name].failing_since),
                              error=failing[name].last_error)
            for name, priced_at in sorted(newest.items())}


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()

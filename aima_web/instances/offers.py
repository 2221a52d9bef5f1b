"""What the providers offer: the stored prices placement reads, refreshed
from the providers, and the offer an instance is launched on."""

from __future__ import annotations

import logging

from django.utils import timezone

from aima_tasks.kernel.routing import VRAM_TOLERANCE
from aima_web.instances.models import CloudInstance
from aima_web.instances.registry import providers
from aima_web.placement import prices
from aima_web.placement import services as placement
from aima_web.placement.models import CloudOffer
from providers.base import Offer, ProviderError, Requirements

log = logging.getLogger(__name__)


def refresh_offers() -> dict[str, str]:
    """Store every enabled cloud provider's live offers in place of its old
    ones, and their prices in the history; return the providers that failed,
    with why. A failing provider's stored offers stay: its last good prices,
    which placement uses until they are too old (``placement.prices``)."""
    failures: dict[str, str] = {}
    for name, provider in providers().providers.items():
        try:
            offers = provider.offers(Requirements())
        except Exception as exc:  # one plugin's failure, typed or not, must not stop the rest
            if not isinstance(exc, ProviderError):
                log.exception("refreshing the offers of %s", name)
            failures[name] = f"{type(exc).__name__}: {exc}"
            prices.refresh_failed(name, failures[name], timezone.now())
            continue
        placement.replace_provider_offers(name, offers, timezone.now())
    prices.prune_history(timezone.now())
    return failures


def offer_for(instance: CloudInstance) -> Offer:
    """The offer the instance is asked for, stored or live."""
    row = CloudOffer.objects.filter(key=instance.offer_id).first()
    if row is not None:
        return row.to_offer()
    # Refreshed away since placement: the provider's live offer of that key.
    wanted = Requirements(min_vram_gb=instance.gpu_class * VRAM_TOLERANCE)
    for offer in providers().get(instance.provider).offers(wanted):
        if offer.key == instance.offer_id:
            return offer
    raise LookupError(f"offer {instance.offer_id} is no longer offered")


def offer_for_retry(instance: CloudInstance) -> Offer | None:
    try:
        return offer_for(instance)
    except (ProviderError, LookupError):
        return None


def next_offer(gpu_class: int, tried: list[str], skip_providers: set[str]) -> Offer | None:
    """The cheapest stored on-demand offer of an enabled provider for the class
    that has not failed this instance yet."""
    enabled = set(providers().providers) - skip_providers
    rows = (CloudOffer.objects.filter(provider__in=enabled,
                                      vram_gb__gte=gpu_class * VRAM_TOLERANCE)
            .exclude(key__in=tried).order_by("price_per_hour", "key"))
    row = rows.first()
    return row.to_offer() if row is not None else None

"""Whether an offer meets a job's requirements: one rule for every provider.

Each provider asks its vendor for matching offers as far as the vendor's API
can filter, then checks every answer again here: a server's filter is not
ours to trust, and five hand-written checks had drifted apart (GPU counts
compared with ``==`` at one provider and ``>=`` at another, regions matched
case-sensitively at one and upper-cased at another).
"""

from __future__ import annotations

from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.base import Requirements


def region_wanted(region: str, wanted: tuple[str, ...]) -> bool:
    """A region is wanted when no regions are asked for, or when it starts with
    one of the asked prefixes, case-insensitively ("eu" takes "EU-RO-1" and
    "europe-west4")."""
    return not wanted or any(region.upper().startswith(prefix.upper()) for prefix in wanted)


def price_for(offer: Offer, spot: bool | None) -> float:
    """The hourly price an offer is rented at: spot where asked, on demand
    where asked, the lower of both where either will do."""
    if spot is None:
        return min(offer.price_per_hour, offer.spot_price_per_hour or offer.price_per_hour)
    if spot:
        return offer.spot_price_per_hour or offer.price_per_hour
    return offer.price_per_hour


def matches(requirements: Requirements, offer: Offer) -> bool:
    """The one rule: enough VRAM per GPU, at least as many GPUs, a new enough
    CUDA, reliable enough, in a wanted region, spot-priced where spot is asked,
    and under the price cap at the price it would be rented at."""
    req = requirements
    if offer.vram_gb < req.min_vram_gb or offer.gpu_count < req.gpu_count:
        return False
    if cuda_tuple(offer.cuda_version) < cuda_tuple(req.min_cuda):
        return False
    if offer.reliability < req.min_reliability or not region_wanted(offer.region, req.regions):
        return False
    if req.spot and offer.spot_price_per_hour is None:
        return False
    return req.max_price_per_hour is None or price_for(offer, req.spot) <= req.max_price_per_hour

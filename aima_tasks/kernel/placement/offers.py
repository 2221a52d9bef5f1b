"""The offer book: cloud offers laid out as columns, built once per price
refresh, so that one decision over ten thousand offers is a handful of vector
operations rather than a Python loop."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from aima_tasks.kernel.placement.inputs import Offer, cuda_tuple


def cuda_number(version: str) -> int:
    major, minor = cuda_tuple(version)
    return major * 1000 + minor


@dataclass(frozen=True, eq=False)
class OfferBook:
    # Sorted by provider, then price, then key: the order ties are broken in,
    # and each provider's offers are one contiguous run.
    offers: tuple[Offer, ...]
    providers: tuple[str, ...]
    provider_idx: np.ndarray
    models: tuple[str, ...]
    model_idx: np.ndarray
    regions: tuple[str, ...]
    region_idx: np.ndarray
    vram_gb: np.ndarray
    cuda: np.ndarray
    price: np.ndarray
    spot_price: np.ndarray  # NaN where the offer has no spot price
    reliability: np.ndarray
    bandwidth_mbps: np.ndarray
    boot_s: np.ndarray
    priced_at: np.ndarray  # POSIX seconds
    interruption_per_hour: np.ndarray  # NaN: the policy's default
    # Filter results by job needs and policy, computed once per book (engine).
    memo: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.offers)

    @classmethod
    def build(cls, offers: Iterable[Offer]) -> OfferBook:
        ordered = tuple(sorted(offers, key=lambda o: (o.provider, o.price_per_hour, o.key)))
        providers = tuple(dict.fromkeys(o.provider for o in ordered))
        provider_pos = {p: i for i, p in enumerate(providers)}
        models = tuple(sorted({o.gpu_model for o in ordered}))
        regions = tuple(sorted({o.region for o in ordered}))
        model_pos = {m: i for i, m in enumerate(models)}
        region_pos = {r: i for i, r in enumerate(regions)}

        def column(values: Iterable[float], dtype: type = np.float64) -> np.ndarray:
            return np.fromiter(values, dtype=dtype, count=len(ordered))

        nan = float("nan")
        return cls(
            offers=ordered, providers=providers,
            provider_idx=column((provider_pos[o.provider] for o in ordered), np.intp),
            models=models, model_idx=column((model_pos[o.gpu_model] for o in ordered), np.intp),
            regions=regions,
            region_idx=column((region_pos[o.region] for o in ordered), np.intp),
            vram_gb=column(o.vram_gb for o in ordered),
            cuda=column((cuda_number(o.cuda_version) for o in ordered), np.int64),
            price=column(o.price_per_hour for o in ordered),
            spot_price=column(nan if o.spot_price_per_hour is None else o.spot_price_per_hour
                              for o in ordered),
            reliability=column(o.reliability for o in ordered),
            bandwidth_mbps=column(o.bandwidth_mbps for o in ordered),
            boot_s=column(o.boot_s for o in ordered),
            priced_at=column(o.priced_at.timestamp() for o in ordered),
            interruption_per_hour=column(
                nan if o.interruption_per_hour is None else o.interruption_per_hour
                for o in ordered),
        )


EMPTY = OfferBook.build(())

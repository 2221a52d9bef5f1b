"""Azure's GPU VM sizes and what an hour of each costs, from the Retail Prices API.

The sizes are a table because neither ARM nor the price list names a size's
GPU model or its memory: ``resource_skus`` gives a ``GPUs`` count only. GPU
models, counts and memory per GPU are those of the size pages on
learn.microsoft.com (virtual-machines/sizes/gpu-accelerated: NCasT4_v3,
NVadsA10_v5, NC_A100_v4, ND_A100_v4, NDasrA100_v4, NCads_H100_v5, ND_H100_v5),
memory as Azure lists it (GB per GPU). Only whole GPUs: the NVadsA10_v5 sizes
that hold a fraction of an A10 (NV6ads, NV12ads, NV18ads) are left out.

Prices: the Azure Retail Prices API (``GET https://prices.azure.com/api/retail/prices``,
no authentication, USD) with ``$filter=serviceName eq 'Virtual Machines' and
armRegionName eq '<region>' and priceType eq 'Consumption' and armSkuName eq
'<size>'``, following ``NextPageLink``. Of a size's items, Windows products
("... Series Windows") and Low Priority meters (the retired predecessor of
Spot) are skipped; a meter or SKU name ending in "Spot" is the Spot price,
the other one the on-demand (pay-as-you-go) price. Of several items for the
same meter the latest ``effectiveStartDate`` wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from providers.errors import ProviderError, TransientError


@dataclass(frozen=True)
class GpuSize:
    gpu_model: str
    gpu_count: int
    vram_gb: float


SIZES: dict[str, GpuSize] = {
    # NCasT4_v3: NVIDIA T4, 16 GB
    "Standard_NC4as_T4_v3": GpuSize("T4", 1, 16),
    "Standard_NC8as_T4_v3": GpuSize("T4", 1, 16),
    "Standard_NC16as_T4_v3": GpuSize("T4", 1, 16),
    "Standard_NC64as_T4_v3": GpuSize("T4", 4, 16),
    # NVadsA10_v5: NVIDIA A10, 24 GB (whole GPUs only)
    "Standard_NV36ads_A10_v5": GpuSize("A10", 1, 24),
    "Standard_NV36adms_A10_v5": GpuSize("A10", 1, 24),
    "Standard_NV72ads_A10_v5": GpuSize("A10", 2, 24),
    # NC_A100_v4: NVIDIA A100 PCIe, 80 GB
    "Standard_NC24ads_A100_v4": GpuSize("A100 80GB", 1, 80),
    "Standard_NC48ads_A100_v4": GpuSize("A100 80GB", 2, 80),
    "Standard_NC96ads_A100_v4": GpuSize("A100 80GB", 4, 80),
    # NDasrA100_v4 and NDm_A100_v4: 8 NVIDIA A100 SXM, 40 and 80 GB
    "Standard_ND96asr_v4": GpuSize("A100 40GB", 8, 40),
    "Standard_ND96amsr_A100_v4": GpuSize("A100 80GB", 8, 80),
    # NCads_H100_v5: NVIDIA H100 NVL, 94 GB
    "Standard_NC40ads_H100_v5": GpuSize("H100 NVL", 1, 94),
    "Standard_NC80adis_H100_v5": GpuSize("H100 NVL", 2, 94),
    # ND_H100_v5: 8 NVIDIA H100 SXM, 80 GB
    "Standard_ND96isr_H100_v5": GpuSize("H100", 8, 80),
}

# One page of the price list; a region's GPU sizes take one or two pages each.
TIMEOUT_S = 30
MAX_PAGES = 20


@dataclass(frozen=True)
class Price:
    on_demand: float | None
    spot: float | None


def price_filter(region: str, size: str) -> str:
    # Values are case-sensitive from api-version 2023-01-01-preview on, and
    # armSkuName is spelled as ARM spells sizes.
    return (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and "
            f"priceType eq 'Consumption' and armSkuName eq '{size}'")


class RetailPrices:
    """Reads the Retail Prices API; one ``requests`` session, TLS verified."""

    def __init__(self, endpoint: str, verify: str | bool):
        self.endpoint = endpoint
        self.verify = verify
        self._session = requests.Session()
        self._host = urlsplit(endpoint).hostname

    def price(self, region: str, size: str) -> Price:
        latest: dict[bool, tuple[str, float]] = {}  # spot? -> (effective start, USD)
        for item in self._items({"$filter": price_filter(region, size)}):
            kind = _kind(item)
            if kind is None:
                continue
            start, usd = str(item.get("effectiveStartDate") or ""), item.get("retailPrice")
            if not isinstance(usd, int | float) or usd <= 0:
                continue
            if kind not in latest or start > latest[kind][0]:
                latest[kind] = (start, float(usd))
        return Price(on_demand=latest[False][1] if False in latest else None,
                     spot=latest[True][1] if True in latest else None)

    def _items(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        url: str | None = self.endpoint
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self._get(url, params)
            params = {}  # NextPageLink carries the filter and the $skip
            yield from (item for item in page.get("Items") or [] if isinstance(item, dict))
            url = page.get("NextPageLink") or None
            if url is not None and urlsplit(url).hostname != self._host:
                raise ProviderError(f"Azure prices: a next page at another host ({url})")
        raise ProviderError(f"Azure prices: more than {MAX_PAGES} pages for one size")

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            answer = self._session.get(url, params=params, timeout=TIMEOUT_S,
                                       verify=self.verify)
        except requests.RequestException as exc:
            raise TransientError(f"Azure prices: {type(exc).__name__} reaching "
                                 f"{self.endpoint}") from None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TransientError(f"Azure prices: HTTP {answer.status_code}")
        if answer.status_code != 200:
            raise ProviderError(f"Azure prices: HTTP {answer.status_code}: "
                                f"{answer.text[:200]}")
        try:
            page = answer.json()
        except ValueError:
            raise TransientError("Azure prices: the answer is not JSON") from None
        if not isinstance(page, dict):
            raise ProviderError("Azure prices: the answer is not a page of items")
        return page


def _kind(item: dict[str, Any]) -> bool | None:
    """True for a Linux Spot price, False for a Linux pay-as-you-go price, None
    for anything else."""
    product = str(item.get("productName") or "")
    names = f"{item.get('meterName') or ''} {item.get('skuName') or ''}"
    if "Windows" in product or "Low Priority" in names:
        return None
    if item.get("type") not in (None, "Consumption") or item.get("unitOfMeasure") not in (
            None, "1 Hour"):
        return None
    return "Spot" in names

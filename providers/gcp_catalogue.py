"""What the ``gcp`` provider offers and what it costs: the GPUs it knows, the
machine type each count of them runs on, and hourly prices from the Cloud
Billing Catalog.

Compute Engine bills a GPU VM by its parts, each a catalogue SKU priced per
region: the GPUs ("Nvidia L4 GPU running in Americas"), the vCPUs ("G2 Instance
Core running in ...", "N1 Predefined Instance Core ...") and the memory per GiB
("G2 Instance Ram ..."), with "Spot Preemptible ..." SKUs (usage type
``Preemptible``) for Spot VMs. An offer's price is the sum for its machine
type's vCPUs and memory (as the zone's machineTypes list says) and its GPUs, at
list price: no sustained-use or committed-use discount, and no boot disk (as
the other providers' offers leave out their disks). gpuhunt reads the same
SKUs the same way (dstackai/gpuhunt, providers/gcp.py). A part without a price
in a region leaves no offer there (or no spot price), never a guess.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from google.api_core import exceptions as core_exceptions

from providers.errors import TransientError

# The catalogue answers at most 5000 SKUs a page.
PAGE_SIZE = 5000


@dataclass(frozen=True)
class Gpu:
    accelerator: str  # the acceleratorTypes name
    model: str  # as placement names it (performance.normalise reads it)
    # GiB per GPU, the figures EC2 lists for the same cards, so that a job's
    # VRAM floor admits the same GPU at either provider.
    vram_gb: float
    # The model as the billing SKUs spell it, lowercased ("Nvidia Tesla T4 GPU").
    sku_models: tuple[str, ...]
    # GPU count -> the machine type that carries that many.
    machine_types: Mapping[int, str]
    # N1 VMs have GPUs attached by name; A2, A3 and G2 types come with theirs.
    attached: bool = False


GPUS: tuple[Gpu, ...] = (
    Gpu("nvidia-tesla-t4", "NVIDIA T4", 16.0, ("tesla t4",),
        {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"}, attached=True),
    Gpu("nvidia-tesla-v100", "NVIDIA V100", 16.0, ("tesla v100",),
        {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32",
         8: "n1-standard-64"}, attached=True),
    Gpu("nvidia-l4", "NVIDIA L4", 22.35, ("l4",),
        {1: "g2-standard-8", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"}),
    Gpu("nvidia-tesla-a100", "NVIDIA A100", 40.0, ("tesla a100", "a100 40gb"),
        {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g", 8: "a2-highgpu-8g",
         16: "a2-megagpu-16g"}),
    Gpu("nvidia-a100-80gb", "NVIDIA A100 80GB", 80.0, ("tesla a100 80gb", "a100 80gb"),
        {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g",
         8: "a2-ultragpu-8g"}),
    # a3-highgpu-1g/2g/4g exist for Spot and flex-start only: on demand, eight.
    Gpu("nvidia-h100-80gb", "NVIDIA H100 80GB", 80.0, ("h100 80gb",),
        {8: "a3-highgpu-8g"}),
)
BY_ACCELERATOR = {gpu.accelerator: gpu for gpu in GPUS}

_GPU_SKU = re.compile(r"^(?P<spot>spot preemptible )?nvidia (?P<model>.+?) gpu running in ")
_VM_SKU = re.compile(r"^(?P<spot>spot preemptible )?(?P<family>[a-z]\d+)(?: predefined)? "
                     r"instance (?P<part>core|ram) running in ")
_USAGE = {"OnDemand": False, "Preemptible": True}


def family_of(machine_type: str) -> str:
    return machine_type.split("-", 1)[0]


def count_for(gpu: Gpu, wanted: int, most: int) -> int | None:
    """The fewest GPUs of ``gpu`` that give ``wanted``, within a zone's ``most``."""
    counts = [n for n in sorted(gpu.machine_types) if wanted <= n <= most]
    return counts[0] if counts else None


# ------------------------------------------------------------------ prices

class PriceBook:
    """Hourly USD prices of SKU parts, by (part, name, region, spot): part
    "gpu" with an accelerator name, "core" or "ram" with a machine family."""

    def __init__(self, prices: Mapping[tuple[str, str, str, bool], float],
                 fetched_at: datetime | None = None):
        self.prices = dict(prices)
        self.fetched_at = fetched_at or datetime.now(UTC)

    def hourly(self, machine_type: str, cpus: int, memory_gib: float, gpu: Gpu, count: int,
               region: str, spot: bool) -> float | None:
        family = family_of(machine_type)
        parts = [(("core", family), cpus), (("ram", family), memory_gib),
                 (("gpu", gpu.accelerator), count)]
        total = 0.0
        for (part, name), amount in parts:
            unit = self.prices.get((part, name, region, spot))
            if unit is None:
                return None
            total += unit * amount
        return round(total, 4)


def parse_skus(skus: Iterable[Mapping[str, Any]]) -> PriceBook:
    """The GPU, vCPU and memory prices among Compute Engine's SKUs; every other
    SKU (disks, licences, commitments, sole tenancy, custom types) is left out."""
    by_sku_model = {model: gpu.accelerator for gpu in GPUS for model in gpu.sku_models}
    prices: dict[tuple[str, str, str, bool], float] = {}
    for sku in skus:
        category = sku.get("category") or {}
        spot = _USAGE.get(category.get("usageType", ""))
        if spot is None or category.get("resourceFamily") != "Compute":
            continue
        description = (sku.get("description") or "").lower()
        found = _GPU_SKU.match(description)
        if found:
            accelerator = by_sku_model.get(found["model"])
            key: tuple[str, str] | None = ("gpu", accelerator) if accelerator else None
        else:
            found = _VM_SKU.match(description)
            key = (found["part"], found["family"]) if found else None
        # A description that says spot under an on-demand usage type (or the
        # reverse) is not one this reading understands.
        if key is None or found is None or bool(found["spot"]) != spot:
            continue
        price = unit_price(sku)
        if price is None:
            continue
        for region in sku.get("serviceRegions") or []:
            prices[(key[0], key[1], region, spot)] = price
    return PriceBook(prices)


def unit_price(sku: Mapping[str, Any]) -> float | None:
    """The current price per unit (hour, or GiB-hour): the newest pricing
    info's first tier."""
    infos = sku.get("pricingInfo") or []
    if not infos:
        return None
    rates = (infos[-1].get("pricingExpression") or {}).get("tieredRates") or []
    if not rates:
        return None
    money = rates[0].get("unitPrice") or {}
    return int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9


def fetch_skus(session: requests.Session, endpoint: str, service_id: str, api_key: str,
               timeout: float) -> list[dict[str, Any]]:
    """Every SKU of the service, page by page (GET /v1/services/{id}/skus)."""
    url = f"{endpoint}/v1/services/{service_id}/skus"
    skus: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"currencyCode": "USD", "pageSize": str(PAGE_SIZE)}
        if token:
            params["pageToken"] = token
        if api_key:
            params["key"] = api_key
        try:
            response = session.get(url, params=params, timeout=timeout)
        except requests.RequestException as problem:
            raise TransientError(f"gcp: could not reach the billing catalogue at {endpoint} "
                                 f"({type(problem).__name__})") from None
        if response.status_code >= 400:
            # The same exception the Compute SDK raises for the same answer,
            # so that one mapping reads both.
            raise core_exceptions.from_http_response(response)
        try:
            page = response.json()
        except ValueError:
            raise TransientError("gcp: the billing catalogue answered something other "
                                 "than JSON") from None
        skus.extend(page.get("skus") or [])
        token = page.get("nextPageToken") or ""
        if not token:
            return skus


# ------------------------------------------------------------------ zones

@dataclass(frozen=True)
class ZoneHardware:
    # acceleratorTypes name -> maximumCardsPerInstance
    accelerators: Mapping[str, int]
    # machineTypes name -> (guestCpus, memory in GiB)
    machine_types: Mapping[str, tuple[int, float]]


class Cache:
    """Prices and each zone's GPU and machine types, kept for ``ttl_s``: list
    prices change rarely (Spot prices at most once a month), and the catalogue
    is thousands of SKUs."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and self.clock() - kept[0] < self.ttl_s:
                return kept[1]
        value = make()  # outside the lock: a slow catalogue must not block the others
        with self._lock:
            self._kept[key] = (self.clock(), value)
        return value

"""What EC2 offers: the GPU instance types, the zones that have them, the
configured subnets' zones, and what an hour of each costs (on demand from
``aws_prices``, spot from EC2's price history), cached as long as each stays
true."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers import aws_prices
from providers.aws_config import NAME, Config
from providers.aws_errors import calling
from providers.base import Offer, Requirements
from providers.errors import ProviderError
from providers.matching import matches

# Instance types and zone offerings change with AWS's releases, not by the hour.
CATALOGUE_TTL_S = 3600.0
ON_DEMAND_TTL_S = 24 * 3600.0
# Only for pricing described instances; offers always ask for the current price.
SPOT_TTL_S = 300.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuType:
    name: str
    gpu_model: str
    vram_gb: float
    gpu_count: int
    bandwidth_mbps: float


class Catalogue:
    """One provider's view of EC2's types, zones and prices; ``client`` is the
    provider's (service, region) -> boto3 client, so that tests stub one place."""

    def __init__(self, config: Config, client: Callable[[str, str], Any]):
        self.config = config
        self.client = client
        self._types: dict[str, tuple[float, dict[str, GpuType]]] = {}
        self._zones: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, list[str]]]] = {}
        self._subnets: dict[str, dict[str, str]] = {}
        self._on_demand_cache: dict[tuple[str, str], tuple[float, float | None]] = {}
        self._spot_cache: dict[str, tuple[float, dict[tuple[str, str], float]]] = {}

    def region_offers(self, region: str, requirements: Requirements) -> list[Offer]:
        types = list(self.gpu_types(region).values())
        if not types:
            return []
        names = sorted(t.name for t in types)
        zones = self.type_zones(region, names)
        subnets = self.subnets_by_zone(region)
        spot = self.spot_prices(region, names, fresh=True)
        now = datetime.now(UTC)
        offers = []
        for gpu_type in types:
            price = self.on_demand(region, gpu_type.name)
            if price is None:
                continue
            for zone in zones.get(gpu_type.name, []):
                if subnets is not None and zone not in subnets:
                    continue
                offers.append(Offer(
                    provider=NAME, instance_type=gpu_type.name, gpu_model=gpu_type.gpu_model,
                    vram_gb=gpu_type.vram_gb, gpu_count=gpu_type.gpu_count,
                    price_per_hour=price, spot_price_per_hour=spot.get((gpu_type.name, zone)),
                    region=region,
                    cuda_version=self.config.cuda_version, reliability=1.0,
                    bandwidth_mbps=gpu_type.bandwidth_mbps, boot_s=self.config.boot_s,
                    priced_at=now, offer_id=f"{gpu_type.name}:{zone}"))
        return [offer for offer in offers if matches(requirements, offer)]

    def gpu_types(self, region: str) -> dict[str, GpuType]:
        cached = self._types.get(region)
        if cached and time.monotonic() - cached[0] < CATALOGUE_TTL_S:
            return cached[1]
        ec2 = self.client("ec2", region)
        found: dict[str, GpuType] = {}
        with calling("DescribeInstanceTypes"):
            pages = ec2.get_paginator("describe_instance_types").paginate(
                Filters=[{"Name": "instance-type", "Values": list(self.config.instance_types)}])
            for page in pages:
                for info in page.get("InstanceTypes", []):
                    gpu_type = _gpu_type(info, self.config.architecture)
                    if gpu_type is not None:
                        found[gpu_type.name] = gpu_type
        self._types[region] = (time.monotonic(), found)
        return found

    def type_zones(self, region: str, names: list[str]) -> dict[str, list[str]]:
        key = (region, tuple(names))
        cached = self._zones.get(key)
        if cached and time.monotonic() - cached[0] < CATALOGUE_TTL_S:
            return cached[1]
        ec2 = self.client("ec2", region)
        zones: dict[str, list[str]] = {}
        with calling("DescribeInstanceTypeOfferings"):
            pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone",
                Filters=[{"Name": "instance-type", "Values": names}])
            for page in pages:
                for offering in page.get("InstanceTypeOfferings", []):
                    zones.setdefault(offering["InstanceType"], []).append(offering["Location"])
        for listed in zones.values():
            listed.sort()
        self._zones[key] = (time.monotonic(), zones)
        return zones

    def subnets_by_zone(self, region: str) -> dict[str, str] | None:
        """Zone -> configured subnet there; None where no subnet is configured
        (the default VPC, any zone)."""
        if not self.config.subnet_ids:
            return None
        if region not in self._subnets:
            ec2 = self.client("ec2", region)
            # A filter, not SubnetIds: the other regions' subnets are simply absent.
            with calling("DescribeSubnets"):
                answer = ec2.describe_subnets(
                    Filters=[{"Name": "subnet-id", "Values": list(self.config.subnet_ids)}])
            self._subnets[region] = {s["AvailabilityZone"]: s["SubnetId"]
                                     for s in answer.get("Subnets", [])}
        return self._subnets[region]

    def spot_prices(self, region: str, names: list[str],
                     fresh: bool = False) -> dict[tuple[str, str], float]:
        """(instance type, zone) -> the Linux spot price in effect now."""
        cached = self._spot_cache.get(region)
        if (not fresh and cached and time.monotonic() - cached[0] < SPOT_TTL_S
                and all(any(t == name for t, _ in cached[1]) for name in names)):
            return cached[1]
        ec2 = self.client("ec2", region)
        latest: dict[tuple[str, str], tuple[datetime, float]] = {}
        with calling("DescribeSpotPriceHistory"):
            # A start time of now answers with the price in effect now, one per
            # type and zone, instead of 90 days of changes.
            pages = ec2.get_paginator("describe_spot_price_history").paginate(
                InstanceTypes=names, ProductDescriptions=["Linux/UNIX"],
                StartTime=datetime.now(UTC))
            for page in pages:
                for entry in page.get("SpotPriceHistory", []):
                    # Accounts from the EC2-Classic era also see "(Amazon VPC)" rows.
                    if not entry.get("ProductDescription", "").startswith("Linux/UNIX"):
                        continue
                    key = (entry["InstanceType"], entry["AvailabilityZone"])
                    stamp = entry["Timestamp"]
                    if key not in latest or stamp > latest[key][0]:
                        latest[key] = (stamp, float(entry["SpotPrice"]))
        prices = {key: price for key, (_, price) in latest.items()}
        self._spot_cache[region] = (time.monotonic(), prices)
        return prices

    def on_demand(self, region: str, instance_type: str) -> float | None:
        if self.config.pricing == "table":
            return aws_prices.table_price(instance_type)
        key = (region, instance_type)
        cached = self._on_demand_cache.get(key)
        if cached and time.monotonic() - cached[0] < ON_DEMAND_TTL_S:
            return cached[1]
        pricing = self.client("pricing", aws_prices.API_REGION)
        try:
            with calling("GetProducts"):
                price = aws_prices.api_price(pricing, region, instance_type)
        except ProviderError as exc:
            # The table is a fair stand-in; a missing permission or a throttled
            # Price List must not hide every offer.
            log.warning("aws pricing API for %s in %s: %s; using the %s table",
                        instance_type, region, exc, aws_prices.TABLE_REGION)
            return aws_prices.table_price(instance_type)
        if price is None:
            price = aws_prices.table_price(instance_type)
        self._on_demand_cache[key] = (time.monotonic(), price)
        return price

    def gpu_type_of(self, region: str, instance_type: str) -> GpuType | None:
        known = self.gpu_types(region)
        if instance_type not in known:
            # Launched under other patterns, or not a GPU type at all: ask once.
            with calling("DescribeInstanceTypes"):
                answer = self.client("ec2", region).describe_instance_types(
                    InstanceTypes=[instance_type])
            for info in answer.get("InstanceTypes", []):
                gpu_type = _gpu_type(info, architecture=None)
                if gpu_type is not None:
                    known[instance_type] = gpu_type
        return known.get(instance_type)


def _gpu_type(info: Mapping[str, Any], architecture: str | None) -> GpuType | None:
    gpus = [g for g in info.get("GpuInfo", {}).get("Gpus", [])
            if g.get("Manufacturer") == "NVIDIA" and g.get("Count", 0) > 0]
    if not gpus:
        return None  # no GPU, a fractional one (g6f), or not one CUDA runs on
    arches = info.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    if architecture is not None and architecture not in arches:
        return None
    gpu = gpus[0]
    network = info.get("NetworkInfo", {})
    baseline_gbps = sum(card.get("BaselineBandwidthInGbps", 0.0)
                        for card in network.get("NetworkCards", []))
    return GpuType(
        name=info["InstanceType"],
        gpu_model=f"NVIDIA {gpu['Name']}",
        vram_gb=round(gpu.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 2),
        gpu_count=sum(g["Count"] for g in gpus),
        # The guaranteed rate, not the burst "up to": media arrive over hours.
        bandwidth_mbps=baseline_gbps * 1000 or 1000.0)

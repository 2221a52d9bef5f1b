"""What an hour of an EC2 GPU instance costs on demand: a shipped table, or the
AWS Price List API.

The table holds us-east-1 on-demand list prices (Linux, shared tenancy, no
pre-installed software, USD per hour) for the instance families the ``aws``
provider searches by default. They are the values of the public EC2 offer file
(https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json,
also shown at https://aws.amazon.com/ec2/pricing/on-demand/), offer version
20260924211011 (2026-09-24), as transcribed independently by two public
open-source price tables that agree on every row below; read 2026-11-23.
P4d and P5 are the prices after AWS's June 2025 cut of up to 45 % on NVIDIA
GPU instances (p4d.24xlarge was $32.77, p5.48xlarge $98.32 before it).

Other regions cost the same or up to about a third more; the table prices them
as us-east-1 all the same. Where the difference matters, ``pricing=api`` asks
the Price List API (``pricing:GetProducts``) for the region's own figure.
"""

from __future__ import annotations

import json
from typing import Any

TABLE_REGION = "us-east-1"
TABLE_AS_OF = "2026-09-24"

ON_DEMAND_US_EAST_1: dict[str, float] = {
    # NVIDIA T4, 16 GB
    "g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204,
    "g4dn.8xlarge": 2.176, "g4dn.12xlarge": 3.912, "g4dn.16xlarge": 4.352,
    "g4dn.metal": 7.824,
    # NVIDIA A10G, 24 GB
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448,
    "g5.12xlarge": 5.672, "g5.16xlarge": 4.096, "g5.24xlarge": 8.144, "g5.48xlarge": 16.288,
    # NVIDIA L4, 24 GB
    "g6.xlarge": 0.8048, "g6.2xlarge": 0.9776, "g6.4xlarge": 1.3232, "g6.8xlarge": 2.0144,
    "g6.12xlarge": 4.6016, "g6.16xlarge": 3.3968, "g6.24xlarge": 6.6752,
    "g6.48xlarge": 13.3504,
    # NVIDIA L40S, 48 GB
    "g6e.xlarge": 1.861, "g6e.2xlarge": 2.24208, "g6e.4xlarge": 3.00424,
    "g6e.8xlarge": 4.52856, "g6e.12xlarge": 10.49264, "g6e.16xlarge": 7.57719,
    "g6e.24xlarge": 15.06559, "g6e.48xlarge": 30.13118,
    # 8x NVIDIA A100 40 GB / 80 GB
    "p4d.24xlarge": 21.95764, "p4de.24xlarge": 27.44705,
    # NVIDIA H100 80 GB: one, and eight
    "p5.4xlarge": 6.88, "p5.48xlarge": 55.04,
}

# The Price List API's endpoints: us-east-1, eu-central-1 and ap-south-1 only.
# Each answers for every region, so the provider always asks this one.
API_REGION = "us-east-1"


def table_price(instance_type: str) -> float | None:
    return ON_DEMAND_US_EAST_1.get(instance_type)


def api_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    """One product: plain Linux, shared tenancy, no licence, no reservation."""
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value}
            for field, value in fields.items()]


def api_price(pricing: Any, region: str, instance_type: str) -> float | None:
    """The hourly on-demand USD price from ``pricing:GetProducts``, or None
    where the price list has no such product."""
    answer = pricing.get_products(ServiceCode="AmazonEC2",
                                  Filters=api_filters(region, instance_type), MaxResults=10)
    for item in answer.get("PriceList", []):
        price = on_demand_hourly(json.loads(item) if isinstance(item, str) else item)
        if price is not None:
            return price
    return None


def on_demand_hourly(product: dict[str, Any]) -> float | None:
    # A product has one OnDemand term with one hourly dimension; zero-priced
    # dimensions belong to capacity reservations and are no price at all.
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd and float(usd) > 0:
                return float(usd)
    return None

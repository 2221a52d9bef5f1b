"""Vast.ai's asks as offers: the search query for a job's requirements, the
offer an ask is. What comes back is checked again with
``providers.matching.matches``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from providers.base import Offer, Requirements
from providers.vastai_config import NAME

# A host that reports no download speed is assumed slow rather than fast.
UNKNOWN_BANDWIDTH_MBPS = 100.0

# Country codes by the continent codes Vast's own region list uses (and the
# SkyPilot catalog's regions, "EU-CZ", "NA-US", that the price snapshot has).
_CONTINENTS = {
    "EU": "AD AL AT BA BE BG BY CH CY CZ DE DK EE ES FI FR GB GE GR HR HU IE IS IT LI LT LU "
          "LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SK SM UA VA XK",
    "NA": "CA US",
    "LC": "AG AR BB BO BR BS BZ CL CO CR CU DM DO EC GD GT GY HN HT JM KN LC MX NI PA PE "
          "PR PY SR SV TT UY VC VE",
    "AS": "AE AM AZ BD BH BN BT CN HK ID IL IN IQ IR JO JP KG KH KR KW KZ LA LB LK MM MN "
          "MO MV MY NP OM PH PK QA SA SG SY TH TJ TM TR TW UZ VN YE",
    "OC": "AU FJ FM GU KI MH NC NR NZ PF PG PW SB TO TV VU WS",
    "AF": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG ER ET GA GH GM GN GQ GW KE KM LR LS "
          "LY MA MG ML MR MU MW MZ NA NE NG RW SC SD SL SN SO SS ST SZ TD TG TN TZ UG ZA "
          "ZM ZW",
}
_CONTINENT_OF = {cc: continent for continent, codes in _CONTINENTS.items()
                 for cc in codes.split()}


def search_query(req: Requirements) -> str:
    """The SDK's query language (vastai/api/query.py parse_query)."""
    parts = [f"num_gpus={req.gpu_count}", f"cuda_vers>={req.min_cuda}"]
    if req.min_vram_gb > 0:
        # gpu_ram in a query is in thousands of MiB; the bound lets through
        # every card that vram_gb() rounds up to the requirement.
        parts.append(f"gpu_ram>={max(0.0, req.min_vram_gb - 0.5) * 1.024:.3f}")
    if req.min_reliability > 0:
        parts.append(f"reliability>={req.min_reliability:g}")
    if req.max_price_per_hour is not None and req.spot is not None:
        parts.append(f"{'min_bid' if req.spot else 'dph_total'}<={req.max_price_per_hour:g}")
    countries = countries_of(req.regions)
    if countries:
        parts.append(f"geolocation in [{','.join(countries)}]")
    return " ".join(parts)


def countries_of(regions: tuple[str, ...]) -> list[str]:
    """Country codes for region prefixes ("EU", "EU-DE"); none when a prefix
    cannot be put in countries, and the offers are filtered here instead."""
    codes: list[str] = []
    for region in regions:
        continent, _, country = region.upper().partition("-")
        if country and _CONTINENT_OF.get(country) == continent:
            codes.append(country)
        elif not country and continent in _CONTINENTS:
            codes.extend(_CONTINENTS[continent].split())
        else:
            return []
    return sorted(set(codes))


def to_offer(ask: Mapping[str, Any], spot: bool | None, now: datetime, boot_s: float) -> Offer:
    count = int(ask["num_gpus"])
    gpu = str(ask["gpu_name"])
    min_bid = ask.get("min_bid")
    return Offer(
        provider=NAME,
        instance_type=f"{count}x-{gpu.replace(' ', '_')}",
        gpu_model=gpu,
        vram_gb=vram_gb(ask["gpu_ram"]),
        price_per_hour=float(ask["dph_total"]),
        gpu_count=count,
        region=region_of(ask.get("geolocation")),
        cuda_version=f"{float(ask['cuda_max_good']):.1f}",
        spot_price_per_hour=float(min_bid) if min_bid is not None and spot is not False else None,
        reliability=float(ask.get("reliability2") or ask.get("reliability") or 0.0),
        bandwidth_mbps=float(ask.get("inet_down") or UNKNOWN_BANDWIDTH_MBPS),
        boot_s=boot_s,
        priced_at=now,
        offer_id=str(ask["id"]),
    )


def vram_gb(mib: float) -> float:
    """What the card is sold as, in whole GiB: an RTX 4090's 24564 MiB is 24,
    an H100's 81559 MiB 80 (as the price snapshot rounds them)."""
    return float(round(float(mib) / 1024))


def region_of(geolocation: object) -> str:
    """'Spain, ES' -> 'EU-ES'; a country outside the table keeps its bare code."""
    if not isinstance(geolocation, str) or not geolocation.strip():
        return ""
    country = geolocation.rsplit(",", 1)[-1].strip().upper()
    continent = _CONTINENT_OF.get(country)
    return f"{continent}-{country}" if continent else country

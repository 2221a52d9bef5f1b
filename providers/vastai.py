"""Vast.ai: a marketplace of single machines ("asks"), rented through the
official SDK (``vastai``, also importable as ``vastai_sdk``).

Settings, from ``AIMA_VASTAI_<KEY>``:
  api_key     required; the SDK sends it only as its Authorization header
  url         the API server (default https://console.vast.ai)
  timeout_s   seconds per HTTP request (default 30; the SDK's own is 120)
  retries     attempts per call on 429/502/503/504 and lost connections (default 3)
  storage_gb  disk the offers are priced with (default 40, LaunchSpec's default):
              Vast quotes ``dph_total`` for a given disk
  boot_s      expected seconds from rent to a running agent (default 300): the
              image is pulled over the host's own line, often slower than a cloud's

Vast keeps no tags, only one free-text label per instance. The tags of a launch
and its name go into that label as ``key=value`` pairs joined by ``;``, each part
percent-encoded, sorted by key (e.g. ``aima-deployment=prod;name=agent-7``);
``name`` is the LaunchSpec's name. ``list_instances`` reads labels back and keeps
the instances that carry every asked tag; labels in other formats carry no tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import requests
from vastai import VastAI

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.base import (
    AuthError,
    CapacityError,
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    Offer,
    ProviderError,
    QuotaError,
    Requirements,
    TransientError,
)

NAME = "vastai"
DEFAULT_URL = "https://console.vast.ai"
NAME_TAG = "name"
# Vast caps a search at 64 offers whatever is asked.
SEARCH_LIMIT = 64
# A host that reports no download speed is assumed slow rather than fast.
UNKNOWN_BANDWIDTH_MBPS = 100.0

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATES = {
    "running": InstanceState.RUNNING,
    "created": InstanceState.PENDING,
    "loading": InstanceState.PENDING,
    "scheduling": InstanceState.PENDING,
    "rebooting": InstanceState.PENDING,
    "stopped": InstanceState.STOPPED,
    # The container is not running but the instance is kept (and bills its
    # disk); starting it runs it again, as after a stop.
    "exited": InstanceState.STOPPED,
    "frozen": InstanceState.STOPPED,
    "offline": InstanceState.UNKNOWN,
    "unknown": InstanceState.UNKNOWN,
}

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


@dataclass(frozen=True)
class Settings:
    api_key: str
    url: str = DEFAULT_URL
    timeout_s: float = 30.0
    retries: int = 3
    storage_gb: float = 40.0
    boot_s: float = 300.0

    @classmethod
    def read(cls, settings: Mapping[str, str]) -> Settings:
        key = (settings.get("api_key") or "").strip()
        if not key:
            raise AuthError("vastai: no API key; set AIMA_VASTAI_API_KEY")
        return cls(
            api_key=key,
            url=(settings.get("url") or DEFAULT_URL).rstrip("/"),
            timeout_s=_number(settings, "timeout_s", cls.timeout_s),
            retries=max(1, int(_number(settings, "retries", cls.retries))),
            storage_gb=_number(settings, "storage_gb", cls.storage_gb),
            boot_s=_number(settings, "boot_s", cls.boot_s),
        )


def _number(settings: Mapping[str, str], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw is None or not raw.strip():
        return float(default)
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"vastai: AIMA_VASTAI_{key.upper()} must be a number, "
                         f"not {raw!r}") from None


class VastAiProvider:
    name = NAME
    supports_pause = True

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings = Settings.read(settings)
        self._sdk = VastAI(api_key=self._settings.api_key, server_url=self._settings.url,
                           retry=self._settings.retries, raw=True, quiet=True)
        # VastAI takes no timeout; its client reads this attribute on every request.
        self._sdk.client.timeout = self._settings.timeout_s

    # ---- offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        spot = requirements.spot
        asks = self._call("search offers", self._sdk.search_offers,
                          query=search_query(requirements),
                          type="bid" if spot else "on-demand",
                          order="min_bid" if spot else "dph_total",
                          limit=SEARCH_LIMIT, storage=self._settings.storage_gb)
        now = datetime.now(UTC)
        found = (self._offer(a, spot, now) for a in asks or [])
        return [o for o in found if o is not None and meets(o, requirements)]

    def _offer(self, ask: Mapping[str, Any], spot: bool | None, now: datetime) -> Offer | None:
        try:
            return to_offer(ask, spot, now, self._settings.boot_s)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("vastai: skipping an ask without %s: id %s", exc, ask.get("id"))
            return None

    # ---- instances

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        if offer.provider != NAME or not offer.offer_id.isdigit():
            raise ProviderError(f"vastai cannot launch offer {offer.key!r}: not a Vast.ai ask")
        bid = bid_for(offer, spec)
        tags = {**spec.tags, NAME_TAG: spec.name}
        answer = self._call(
            "launch", self._sdk.create_instance, gone=CapacityError,
            id=int(offer.offer_id), image=spec.image, disk=spec.disk_gb, env=dict(spec.env),
            label=encode_label(tags), onstart_cmd=spec.command or None, bid_price=bid,
            # ssh runtype: Vast's entrypoint starts the container and runs onstart.
            ssh=True,
            # Otherwise a machine that cannot start now gives a stopped instance
            # that bills its disk while it waits.
            cancel_unavail=True,
        )
        instance_id = answer.get("new_contract") if isinstance(answer, dict) else None
        if not instance_id:
            raise ProviderError(f"vastai launch of ask {offer.offer_id}: no instance id in answer")
        return Instance(provider=NAME, instance_id=str(instance_id), state=InstanceState.PENDING,
                        offer_id=offer.offer_id, gpu_model=offer.gpu_model,
                        price_per_hour=bid if bid is not None else offer.price_per_hour,
                        spot=bid is not None, tags=tags, launched_at=datetime.now(UTC))

    def describe(self, instance_id: str) -> Instance:
        row = self._call("describe", self._sdk.show_instance, _number_of(instance_id))
        if row is None:
            raise NotFoundError(f"vastai: no instance {instance_id}")
        return to_instance(row)

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        rows = self._call("list instances", self._sdk.show_instances)
        found = (to_instance(row) for row in rows or [])
        return [i for i in found if all(i.tags.get(k) == v for k, v in tags.items())]

    def terminate(self, instance_id: str) -> None:
        if not instance_id.isdigit():
            return  # no Vast instance has such an id, so there is nothing to end
        try:
            self._call("terminate", self._sdk.destroy_instance, int(instance_id))
        except NotFoundError:
            log.info("vastai: instance %s was already gone", instance_id)

    def pause(self, instance_id: str) -> None:
        self._call("pause", self._sdk.stop_instance, _number_of(instance_id))

    def resume(self, instance_id: str) -> None:
        self._call("resume", self._sdk.start_instance, _number_of(instance_id))

    def health(self) -> Health:
        try:
            user = self._call("health", self._sdk.show_user)
        except ProviderError as exc:
            return Health(ok=False, message=str(exc))
        who = user.get("username") or user.get("id") or "?"
        credit = user.get("credit")
        if not isinstance(credit, int | float):
            return Health(ok=True, message=f"authenticated as {who}")
        # Without credit every launch is refused: worth a red light before one is tried.
        return Health(ok=credit > 0, message=f"authenticated as {who}; credit {credit:.2f} USD")

    # ---- calling the SDK

    def _call(self, what: str, fn: Callable[..., T], *args: Any,
              gone: type[ProviderError] = NotFoundError, **kwargs: Any) -> T:
        """Run one SDK call, turning its failures into this package's errors.

        ``gone`` is what a 404/410 means here: no such instance, or, when
        renting, an ask someone else took. The SDK's exceptions are not chained:
        they hold the request, and with it the Authorization header.
        """
        try:
            answer = fn(*args, **kwargs)
        except requests.HTTPError as exc:
            raise self._refusal(what, exc.response, gone) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(self._scrub(
                f"vastai {what}: {type(exc).__name__} talking to {self._settings.url}")) from None
        except requests.RequestException as exc:
            raise ProviderError(self._scrub(f"vastai {what}: {type(exc).__name__}")) from None
        if isinstance(answer, dict) and answer.get("success") is False:
            raise self._error(what, 200, answer, gone)
        return answer

    def _refusal(self, what: str, response: requests.Response | None,
                 gone: type[ProviderError]) -> ProviderError:
        if response is None:
            return TransientError(f"vastai {what}: no answer")
        try:
            body = response.json()
        except ValueError:
            body = {"msg": response.text[:200]}
        if not isinstance(body, dict):
            body = {"msg": str(body)[:200]}
        return self._error(what, response.status_code, body, gone)

    def _error(self, what: str, status: int, body: Mapping[str, Any],
               gone: type[ProviderError]) -> ProviderError:
        code = str(body.get("error") or "")
        msg = str(body.get("msg") or body.get("message") or "").strip()
        kind = error_class(status, code, msg, gone)
        text = f"vastai {what}: HTTP {status}" + (f" {code}" if code else "") + f": {msg[:300]}"
        if kind is AuthError:
            text += " (check AIMA_VASTAI_API_KEY)"
        return kind(self._scrub(text))

    def _scrub(self, text: str) -> str:
        return text.replace(self._settings.api_key, "••••")


def error_class(status: int, code: str, msg: str,
                gone: type[ProviderError]) -> type[ProviderError]:
    words = f"{code} {msg}".lower()
    if "no_such_ask" in words or "no longer available" in words:
        return CapacityError
    # search_quota_exceeded is a 429 that only clears at midnight UTC (vastai/api/client.py).
    if "credit" in words or "quota" in words:
        return QuotaError
    if status in (401, 403):
        return AuthError
    if status in (404, 410) or "no_such_instance" in words:
        return gone
    if status == 429 or status >= 500:
        return TransientError
    return ProviderError


# ---- requirements -> query, asks -> offers


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


def meets(offer: Offer, req: Requirements) -> bool:
    """The requirements again, here: the server's filter is not ours to trust."""
    if offer.vram_gb < req.min_vram_gb or offer.gpu_count != req.gpu_count:
        return False
    if cuda_tuple(offer.cuda_version) < cuda_tuple(req.min_cuda):
        return False
    if offer.reliability < req.min_reliability:
        return False
    if req.regions and not any(offer.region.startswith(r) for r in req.regions):
        return False
    if req.spot and offer.spot_price_per_hour is None:
        return False
    return req.max_price_per_hour is None or _price_for(offer, req.spot) <= req.max_price_per_hour


def _price_for(offer: Offer, spot: bool | None) -> float:
    if spot is None:
        return min(offer.price_per_hour, offer.spot_price_per_hour or offer.price_per_hour)
    if spot:
        return offer.spot_price_per_hour or offer.price_per_hour
    return offer.price_per_hour


def bid_for(offer: Offer, spec: LaunchSpec) -> float | None:
    if not spec.spot:
        return None
    bid = spec.bid_per_hour if spec.bid_per_hour is not None else offer.spot_price_per_hour
    if bid is None:
        raise ProviderError(f"vastai: ask {offer.offer_id} has no interruptible price; "
                            "launch it on demand or give bid_per_hour")
    return bid


# ---- instances and labels


def to_instance(row: Mapping[str, Any]) -> Instance:
    start = row.get("start_date")
    return Instance(
        provider=NAME,
        instance_id=str(row["id"]),
        state=state_of(row),
        gpu_model=str(row.get("gpu_name") or ""),
        price_per_hour=float(row.get("dph_total") or 0.0),
        spot=bool(row.get("is_bid")),
        tags=decode_label(row.get("label")),
        launched_at=datetime.fromtimestamp(start, UTC) if isinstance(start, int | float) else None,
        address=str(row.get("public_ipaddr") or ""),
    )


def state_of(row: Mapping[str, Any]) -> InstanceState:
    actual = row.get("actual_status")
    # A stop shows in intended_status at once and in actual_status only later.
    if row.get("intended_status") == "stopped" and actual != "running":
        return InstanceState.STOPPED
    if actual is None:
        return InstanceState.PENDING  # null: still being provisioned
    return _STATES.get(str(actual).lower(), InstanceState.UNKNOWN)


def encode_label(tags: Mapping[str, str]) -> str:
    return ";".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(tags.items()))


def decode_label(label: object) -> dict[str, str]:
    if not isinstance(label, str) or "=" not in label:
        return {}
    pairs = [part.partition("=") for part in label.split(";")]
    if any(not sep or not key for key, sep, _ in pairs):
        return {}  # someone else's label, not ours
    return {unquote(key): unquote(value) for key, _, value in pairs}


def _number_of(instance_id: str) -> int:
    if not instance_id.isdigit():
        raise NotFoundError(f"vastai: no instance {instance_id!r} (Vast ids are numbers)")
    return int(instance_id)

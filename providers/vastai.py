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
  image       the agent image its instances run (default: the deployment's,
              ``AIMA_AGENT_IMAGE``)

Vast keeps no tags, only one free-text label per instance. The tags of a launch
and its name go into that label as ``key=value`` pairs joined by ``;``, each part
percent-encoded, sorted by key (e.g. ``aima-deployment=prod;name=agent-7``);
``name`` is the LaunchSpec's name. ``list_instances`` reads labels back and keeps
the instances that carry every asked tag; labels in other formats carry no tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import requests
from vastai import VastAI

from aima_tasks.kernel.instance_env import SHUTDOWN_ENV, ShutdownMechanism
from providers.base import (
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    MultiGpu,
    Offer,
    Pausable,
    ProviderBase,
    Regional,
    Requirements,
    SpotMarket,
)
from providers.errors import (
    AuthError,
    CapacityError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TransientError,
)
from providers.matching import matches
from providers.vastai_config import NAME, SETTINGS, Settings
from providers.vastai_offers import search_query, to_offer

__all__ = ["NAME", "SETTINGS", "VastAiProvider"]

NAME_TAG = "name"
# Vast caps a search at 64 offers whatever is asked.
SEARCH_LIMIT = 64

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

class VastAiProvider(ProviderBase, Pausable, SpotMarket, Regional, MultiGpu):
    name = NAME

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
        # The query filters at Vast; the one rule checks again what came back.
        return [o for o in found if o is not None and matches(requirements, o)]

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
            id=int(offer.offer_id), image=spec.image, disk=spec.disk_gb,
            # Its agent ends it with the container's own CONTAINER_ID and CONTAINER_API_KEY.
            env={**spec.env, SHUTDOWN_ENV: ShutdownMechanism.VASTAI.value},
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

"""Reading a Compute Engine instance resource back into the plain record of
``providers.base``, and the ids the ``gcp`` provider gives offers and VMs
(see ``providers.gcp``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from google.cloud import compute_v1

from providers import gcp_catalogue as cat
from providers.base import Instance, InstanceState, Offer
from providers.errors import NotFoundError, ProviderError
from providers.gcp_config import NAME

# Metadata keys a launch writes, and the label with the launch's name.
TAGS_KEY, OFFER_KEY, PRICE_KEY = "aima-tags", "aima-offer", "aima-price"
NAME_LABEL = "aima-name"
STATES = {
    "PROVISIONING": InstanceState.PENDING,
    "STAGING": InstanceState.PENDING,
    "REPAIRING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    # GCP's TERMINATED is a stopped VM: it keeps its disk and can be started.
    "STOPPING": InstanceState.STOPPED,
    "STOPPED": InstanceState.STOPPED,
    "TERMINATED": InstanceState.STOPPED,
    "SUSPENDING": InstanceState.STOPPED,
    "SUSPENDED": InstanceState.STOPPED,
}


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def split_id(instance_id: str) -> tuple[str, str]:
    zone, _, name = instance_id.partition("/")
    if not zone or not name or "/" in name:
        raise NotFoundError(f"no GCP instance {instance_id!r} (ids are zone/name)")
    return zone, name


def parse_offer(offer: Offer) -> tuple[str, str, cat.Gpu, int]:
    parts = offer.offer_id.split(":")
    gpu = cat.BY_ACCELERATOR.get(parts[2]) if len(parts) == 4 else None
    if offer.provider != NAME or gpu is None or not parts[3].isdigit():
        raise ProviderError(f"offer {offer.key!r} is not a GCP offer")
    return parts[0], parts[1], gpu, int(parts[3])


def metadata_of(raw: compute_v1.Instance) -> dict[str, str]:
    return {item.key: item.value for item in raw.metadata.items}


def instance_from(raw: compute_v1.Instance) -> Instance:
    meta = metadata_of(raw)
    zone = raw.zone.rsplit("/", 1)[-1]
    offer_id = meta.get(OFFER_KEY, "")
    parts = offer_id.split(":")
    gpu = cat.BY_ACCELERATOR.get(parts[2]) if len(parts) == 4 else None
    try:
        tags: dict[str, Any] = json.loads(meta.get(TAGS_KEY) or "{}")
        price = float(meta.get(PRICE_KEY) or 0.0)
    except ValueError:
        tags, price = {}, 0.0
    try:
        launched_at = datetime.fromisoformat(raw.creation_timestamp).astimezone(UTC) \
            if raw.creation_timestamp else None
    except ValueError:
        launched_at = None
    interface = raw.network_interfaces[0] if raw.network_interfaces else None
    public = [a.nat_i_p for a in interface.access_configs if a.nat_i_p] if interface else []
    return Instance(
        provider=NAME, instance_id=f"{zone}/{raw.name}",
        state=STATES.get(raw.status, InstanceState.UNKNOWN), offer_id=offer_id,
        gpu_model=gpu.model if gpu else "", price_per_hour=price,
        spot=raw.scheduling.provisioning_model == "SPOT",
        tags={str(k): str(v) for k, v in tags.items()}, launched_at=launched_at,
        address=public[0] if public else (interface.network_i_p if interface else ""))

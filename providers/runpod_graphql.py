"""The GraphQL text the ``runpod`` provider sends where the SDK has no call
for it, and the escaping of values the SDK pastes into its own queries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.errors import TransientError


class Enum(str):
    """An enum value: written bare in GraphQL."""


def escape(text: str) -> str:
    """The inside of a GraphQL string literal. The SDK pastes values between
    quotes as they are, so a quote or a newline would break its query."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def literal(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f'"{escape(value)}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(literal(item) for item in value) + "]"


def offers_query(gpu_count: int, clouds: tuple[str, ...]) -> str:
    # The SDK has no call that prices every GPU type at once (get_gpus has no
    # prices; get_gpu is one request per type and asks nothing of stock): one
    # query, with lowestPrice per cloud type under an alias (secureCloud: false
    # is the community cloud).
    per_cloud = " ".join(
        f"{cloud.lower()}: lowestPrice(input: "
        f"{literal({'gpuCount': gpu_count, 'secureCloud': cloud == 'SECURE'})}) "
        "{ minimumBidPrice uninterruptablePrice stockStatus }"
        for cloud in clouds)
    return ("query AimaGpuOffers { gpuTypes { id displayName memoryInGb maxGpuCount "
            "securePrice secureSpotPrice communityPrice communitySpotPrice "
            f"{per_cloud} }} }}")


def spot_mutation(fields: Mapping[str, Any]) -> str:
    return (f"mutation {{ podRentInterruptable(input: {literal(fields)}) "
            "{ id desiredStatus imageName env machineId machine { podHostId } } }")


def bid_resume_mutation(pod_id: str, bid_per_gpu: float, gpu_count: int) -> str:
    fields = {"podId": pod_id, "bidPerGpu": bid_per_gpu, "gpuCount": gpu_count}
    return f"mutation {{ podBidResume(input: {literal(fields)}) {{ id desiredStatus }} }}"


def data(answer: Mapping[str, Any] | None, key: str, action: str) -> Any:
    data = (answer or {}).get("data")
    if not isinstance(data, Mapping):
        raise TransientError(f"RunPod {action}: the answer had no data")
    return data.get(key)

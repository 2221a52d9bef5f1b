"""What only operators see of the fleet in a job's answers: which agent ran it
and on which GPU (by UUID). The others get the same shape with those blanked:
a UUID names the hardware an agent registers, an agent id its credential's owner."""

from __future__ import annotations

from typing import Any

from aima_web.access.roles import Capability, holds

# The keys blanked, with the blank each takes (the shape stays as documented).
BLANKS: dict[str, Any] = {"agent_id": None, "agent": None, "gpu_uuid": ""}


def sees_fleet(user: Any) -> bool:
    return user is not None and holds(user, Capability.VIEW_GPU_DETAILS)


def run_record(record: dict[str, Any], user: Any) -> dict[str, Any]:
    """A result's or a report analysis's record of how it ran (its segments
    included), as ``user`` may see it."""
    if sees_fleet(user):
        return record
    return {key: _blanked(key, value) for key, value in record.items()}


def _blanked(key: str, value: Any) -> Any:
    if key in BLANKS:
        return BLANKS[key]
    if key in ("meta", "segments"):
        return _deep(value)
    return value


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: BLANKS[k] if k in BLANKS else _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(item) for item in value]
    return value

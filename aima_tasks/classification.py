"""How a job and a GPU are classified: the levels the control plane, the
placement engine and the agents all speak. Plain enums, no Django."""

from __future__ import annotations

from enum import StrEnum


class Confidentiality(StrEnum):
    # Seed 003 §1.1: level 1 prefers the cloud, level 2 may use either, level 3
    # never leaves local hardware.
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class GpuStatus(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


# A busy GPU still takes work: the job waits in its queue.
USABLE_GPU_STATUSES = frozenset({GpuStatus.AVAILABLE, GpuStatus.BUSY})

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
    # Its agent's telemetry showed a fault (GPU lost, overheating); the next
    # healthy sample lifts it.
    FAILED = "failed"


# A busy GPU still takes work: the job waits in its queue.
USABLE_GPU_STATUSES = frozenset({GpuStatus.AVAILABLE, GpuStatus.BUSY})
# Set by an admin on purpose: telemetry neither overrides nor lifts them.
ADMIN_GPU_STATUSES = frozenset({GpuStatus.MAINTENANCE, GpuStatus.RETIRED})


class GpuActivity(StrEnum):
    """How hard a GPU works, as one telemetry sample shows it. A fact apart
    from its GpuStatus (whether it may take work): a GPU in maintenance may be
    busy with a test, and a busy one still takes queued jobs."""

    IDLE = "idle"
    ACTIVE = "active"
    BUSY = "busy"

"""Queue and task names: the only module that spells them.

A GPU class is a VRAM tier; a job needing N GB goes to the smallest class that
holds N, on the queue ``gpu.<scope>.<class>``. An agent consumes the queue of
every class its GPU can hold, in its own scope only: local agents must never
see cloud-bound work they were not placed for, and cloud agents must never see
local (possibly confidential) work.
"""

from __future__ import annotations

from enum import StrEnum

from aima_tasks.kernel.analyses import MIN_CUDA, cuda_tuple
from aima_tasks.kernel.classification import Urgency


class Scope(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"


# VRAM tiers in GB, ascending: the GPU classes AIMA schedules by.
GPU_CLASSES: tuple[int, ...] = (8, 16, 24, 48, 80)

# A card sold as "80 GB" reports a little less to NVML (an H100 reports about
# 79.6 GiB), so a GPU counts as its class when within this share of the tier.
VRAM_TOLERANCE = 0.97

CONTROL_QUEUE = "control"

# GPU queues are RabbitMQ priority queues (``x-max-priority``): a message of a
# higher priority is delivered before the lower ones waiting in its queue, so
# a higher-priority job runs before queued lower-priority jobs of its class.
# RabbitMQ keeps a sub-queue per level and advises at most 10: levels 0..9.
MAX_PRIORITY = 9
_MIDDLE = 4
_URGENCY_STEP = {Urgency.LOW: -1, Urgency.NORMAL: 0, Urgency.HIGH: 1}


class TaskName(StrEnum):
    PROBE = "aima.probe"
    PLACE = "aima.place"
    ANALYSE = "aima.analyse"
    PROVISION = "aima.provision"
    LAUNCH = "aima.launch"
    TICK = "aima.instances.tick"
    RECONCILE = "aima.instances.reconcile"
    REFRESH_OFFERS = "aima.offers.refresh"
    AUDIT_CHECKPOINT = "aima.audit.checkpoint"
    RETENTION = "aima.retention.sweep"
    FLEET_HEALTH = "aima.fleet.health"
    SWEEP = "aima.jobs.sweep"
    ALERTS = "aima.alerts.evaluate"


# Everything but the GPU work itself runs on the control plane.
CONTROL_TASKS = frozenset(TaskName) - {TaskName.ANALYSE}


class NoGpuClass(ValueError):
    """A VRAM need larger than the largest GPU class."""


def gpu_queue(scope: Scope, gpu_class: int) -> str:
    if gpu_class not in GPU_CLASSES:
        raise ValueError(f"{gpu_class} GB is not a GPU class; classes are {GPU_CLASSES}")
    return f"gpu.{Scope(scope).value}.{gpu_class}"


def message_priority(priority: int, urgency: str = Urgency.NORMAL) -> int:
    """The AMQP priority of a job's GPU messages: its priority (-4..4 counted,
    beyond that the same) around the middle level, then one level up for an
    urgent job and down for a low one; 0..MAX_PRIORITY."""
    level = _MIDDLE + max(-_MIDDLE, min(_MIDDLE, priority)) + _URGENCY_STEP[Urgency(urgency)]
    return max(0, min(MAX_PRIORITY, level))


def is_gpu_queue(name: str) -> bool:
    return name in {gpu_queue(s, c) for s in Scope for c in GPU_CLASSES}


def class_for_need(vram_gb: float) -> int:
    """The smallest GPU class that holds a job needing ``vram_gb``."""
    for gpu_class in GPU_CLASSES:
        if gpu_class >= vram_gb:
            return gpu_class
    raise NoGpuClass(f"{vram_gb:g} GB exceeds the largest GPU class ({GPU_CLASSES[-1]} GB)")


def classes_served(vram_gb: float) -> list[int]:
    """Every GPU class a card with ``vram_gb`` can take work for."""
    return [c for c in GPU_CLASSES if vram_gb >= c * VRAM_TOLERANCE]


def queues_served(scope: Scope, vram_gb: float, cuda_version: str = MIN_CUDA) -> list[str]:
    """The queues a GPU consumes: every class it can hold, in its scope; none
    if its CUDA is older than any analysis runs on."""
    if cuda_tuple(cuda_version) < cuda_tuple(MIN_CUDA):
        return []
    return [gpu_queue(scope, c) for c in classes_served(vram_gb)]


def all_queues() -> list[str]:
    return [CONTROL_QUEUE] + [gpu_queue(s, c) for s in Scope for c in GPU_CLASSES]

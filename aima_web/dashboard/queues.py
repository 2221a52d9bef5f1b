"""The dashboard's queue table: per GPU class and scope, the jobs queued, how
long the oldest has waited, and what a job placed now would wait for a local
GPU of that class.

The expected wait is the placement engine's own: the fleet as placement sees it
(aima_web.placement.services.fleet_state: each GPU's status and backlog of
queued and running work) and the wait a GPU's schedule adds to its backlog
(aima_tasks.kernel.placement.offline.wait_s), the shortest among the GPUs in
service that take the class. A cloud queue's wait is an instance's boot, which
depends on the offer: not estimated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone

from aima_tasks.kernel.classification import USABLE_GPU_STATUSES
from aima_tasks.kernel.placement.offline import wait_s
from aima_tasks.kernel.routing import GPU_CLASSES, Scope, classes_served, gpu_queue
from aima_web.jobs.models import Job
from aima_web.jobs.states import UNPLACED, JobState
from aima_web.monitoring.jobs import waiting_since
from aima_web.placement.services import fleet_state


@dataclass(frozen=True)
class QueueRow:
    queue: str
    scope: str
    gpu_class: int
    queued: int
    # Seconds the longest-waiting job has waited (0 when none waits).
    oldest_s: float
    # A new job's expected wait in seconds; None: not estimated (cloud) or no
    # local GPU in service takes the class; inf: no schedule window ever opens.
    expected_s: float | None
    # Local GPUs in service that take the class.
    gpus: int


@dataclass(frozen=True)
class Queues:
    rows: list[QueueRow]
    # Jobs received and not yet placed on a queue.
    unplaced: int


def queues(now: datetime) -> Queues:
    counts = dict(Job.objects.order_by().filter(state=JobState.QUEUED)
                  .values_list(KT("placement__queue")).annotate(n=Count("pk")))
    since = waiting_since()
    # Schedules are wall-clock windows in the control plane's time zone.
    fleet = fleet_state(timezone.localtime(now))
    in_service = [gpu for gpu in fleet.gpus if gpu.status in USABLE_GPU_STATUSES]
    rows = []
    for scope in Scope:
        for gpu_class in GPU_CLASSES:
            queue = gpu_queue(scope, gpu_class)
            takers = [gpu for gpu in in_service if gpu_class in classes_served(gpu.vram_gb)]
            queued = counts.get(queue, 0)
            if scope == Scope.CLOUD and not queued:
                continue  # cloud classes are shown only while jobs wait in them
            expected = None
            if scope == Scope.LOCAL and takers:
                expected = min(wait_s(gpu, fleet) for gpu in takers)
            oldest = since.get(queue)
            rows.append(QueueRow(
                queue=queue, scope=scope.value, gpu_class=gpu_class, queued=queued,
                oldest_s=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
                expected_s=expected, gpus=len(takers) if scope == Scope.LOCAL else 0))
    unplaced = Job.objects.filter(state__in=UNPLACED).count()
    return Queues(rows=rows, unplaced=unplaced)

"""Control-plane tasks that rent and return cloud GPUs (aima_web.instances)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections

from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.celery import app
from aima_web.instances import capacity, launching, offers, reconcile, upkeep

log = logging.getLogger(__name__)


@app.task(**task_options(TaskName.PROVISION))
def provision_task() -> list[int]:
    created = capacity.ensure_capacity()
    send_due_launches()
    return created


@app.task(**task_options(TaskName.LAUNCH))
def launch_task(instance_ids: list[int]) -> dict[str, str]:
    """Launch the instances side by side: a provider's launch call mostly
    waits on its API, and ten GPUs wanted at once should not boot one after
    another. A retry waits in its row (its due time), not in a delayed message
    that a dying worker would take with it; the tick sends it when it is due."""
    with ThreadPoolExecutor(max(1, min(len(instance_ids), settings.AIMA_PARALLEL_LAUNCHES)),
                            thread_name_prefix="launch") as pool:
        outcomes = dict(zip(map(str, instance_ids), pool.map(launch_one, instance_ids),
                            strict=True))
    log.info("launches: %s", outcomes)
    return outcomes


def launch_one(instance_id: int) -> str:
    try:
        return launching.launch(instance_id).value
    finally:
        # Each launch thread opened its own database connection.
        connections.close_all()


@app.task(**task_options(TaskName.TICK))
def tick_task() -> dict[str, int]:
    counts = upkeep.tick()
    counts["launches_sent"] = len(send_due_launches())
    return counts


def send_due_launches() -> list[int]:
    claimed = launching.claim_due_launches()
    if claimed:
        app.send_task(TaskName.LAUNCH.value, args=(claimed,))
    return claimed


@app.task(**task_options(TaskName.RECONCILE))
def reconcile_task() -> dict[str, list[str]]:
    return reconcile.reconcile()


@app.task(**task_options(TaskName.REFRESH_OFFERS))
def refresh_offers_task() -> dict[str, str]:
    return offers.refresh_offers()

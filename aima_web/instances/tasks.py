"""Control-plane tasks that rent and return cloud GPUs (aima_web.instances)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections

from aima_tasks.kernel.routing import TaskName
from aima_web.celery import app
from aima_web.instances import services

log = logging.getLogger(__name__)


@app.task(name=TaskName.PROVISION.value)
def provision_task() -> list[int]:
    created = services.ensure_capacity()
    send_due_launches()
    return created


@app.task(name=TaskName.LAUNCH.value)
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
        return services.launch(instance_id)
    finally:
        # Each launch thread opened its own database connection.
        connections.close_all()


@app.task(name=TaskName.TICK.value)
def tick_task() -> dict[str, int]:
    counts = services.tick()
    counts["launches_sent"] = len(send_due_launches())
    return counts


def send_due_launches() -> list[int]:
    claimed = services.claim_due_launches()
    if claimed:
        app.send_task(TaskName.LAUNCH.value, args=(claimed,))
    return claimed


@app.task(name=TaskName.RECONCILE.value)
def reconcile_task() -> dict[str, list[str]]:
    return services.reconcile()


@app.task(name=TaskName.REFRESH_OFFERS.value)
def refresh_offers_task() -> dict[str, str]:
    return services.refresh_offers()

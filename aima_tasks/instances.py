"""Control-plane tasks that rent and return cloud GPUs (aima_web.instances)."""

from __future__ import annotations

import logging

from aima_tasks.app import app
from aima_tasks.routing import TaskName
from aima_web.instances import services

log = logging.getLogger(__name__)


@app.task(name=TaskName.PROVISION.value)
def provision_task() -> list[int]:
    created = services.ensure_capacity()
    send_due_launches()
    return created


@app.task(name=TaskName.LAUNCH.value)
def launch_task(instance_id: int) -> str:
    # A retry waits in the row (its due time), not in a delayed message that
    # a dying worker would take with it; the tick sends it when it is due.
    outcome = services.launch(instance_id)
    log.info("launch of instance %s: %s", instance_id, outcome)
    return outcome


@app.task(name=TaskName.TICK.value)
def tick_task() -> dict[str, int]:
    counts = services.tick()
    counts["launches_sent"] = len(send_due_launches())
    return counts


def send_due_launches() -> list[int]:
    claimed = services.claim_due_launches()
    for instance_id in claimed:
        app.send_task(TaskName.LAUNCH.value, args=(instance_id,))
    return claimed


@app.task(name=TaskName.RECONCILE.value)
def reconcile_task() -> dict[str, list[str]]:
    return services.reconcile()


@app.task(name=TaskName.REFRESH_OFFERS.value)
def refresh_offers_task() -> dict[str, str]:
    return services.refresh_offers()

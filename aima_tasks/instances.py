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
    for instance_id in created:
        app.send_task(TaskName.LAUNCH.value, args=(instance_id,))
    return created


@app.task(name=TaskName.LAUNCH.value)
def launch_task(instance_id: int) -> str:
    outcome = services.launch(instance_id)
    if outcome == "retry":
        attempts = services.CloudInstance.objects.get(pk=instance_id).attempts
        app.send_task(TaskName.LAUNCH.value, args=(instance_id,),
                      countdown=services.retry_delay_s(attempts))
    log.info("launch of instance %s: %s", instance_id, outcome)
    return outcome


@app.task(name=TaskName.TICK.value)
def tick_task() -> dict[str, int]:
    counts = services.tick()
    for instance_id in services.CloudInstance.objects.filter(
            state=services.InstanceState.REQUESTED, attempts=0).values_list("pk", flat=True):
        app.send_task(TaskName.LAUNCH.value, args=(instance_id,))
    return counts


@app.task(name=TaskName.RECONCILE.value)
def reconcile_task() -> dict[str, list[str]]:
    return services.reconcile()


@app.task(name=TaskName.REFRESH_OFFERS.value)
def refresh_offers_task() -> dict[str, str]:
    return services.refresh_offers()

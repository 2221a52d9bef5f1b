"""The fleet's periodic task, on the control queue: GPUs of agents that fell
silent leave placement, and units stranded on a lost agent or a failed GPU
go to another, and jobs queued for such a GPU are placed again (see
aima_web.fleet.health and aima_web.fleet.failover)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.celery import app
from aima_web.fleet import failover, health, hearing

log = logging.getLogger(__name__)


@app.task(**task_options(TaskName.FLEET_HEALTH))
def fleet_health() -> dict[str, int]:
    """Idempotent: each unit is moved once (its assignment goes with it), and
    a send that failed is tried again at the next round."""
    now = timezone.now()
    if hearing.round_ran(now):
        log.warning("fleet health: no round for %s s or more (database or beat down); "
                    "no agent counts as lost before it could be heard for %s s",
                    settings.AIMA_FLEET_HEALTH_S * hearing.DEAF_ROUNDS,
                    settings.AIMA_AGENT_OFFLINE_AFTER_S)
    counts = {"offline": health.take_offline(now), "moved": 0}
    for why, stranded in health.stranded(now).items():
        counts["moved"] += failover.move(stranded, why)
    counts["placed_again"] = failover.place_all_again(health.queued_on_gpus_out(now),
                                                      "its GPU left service")
    if any(counts.values()):
        log.info("fleet health: %s", counts)
    return counts

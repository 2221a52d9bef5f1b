"""Every task's time limits, declared once, in one table that can be read and
compared at a glance.

A task past its soft limit has :class:`celery.exceptions.SoftTimeLimitExceeded`
raised inside it and ends through its own failure policy (a job step fails its
job, saying so). One that does not return even then (stuck in C code, a hung
socket) is killed at the hard limit. Limits need the prefork pool, which both the
control worker and the agents run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aima_tasks.kernel.routing import TaskName


@dataclass(frozen=True)
class Limits:
    soft_s: int
    # The soft limit plus time to report the failure before the process is killed.
    hard_s: int

    def __post_init__(self) -> None:
        if not 0 < self.soft_s < self.hard_s:
            raise ValueError(f"limits need 0 < soft < hard, not {self.soft_s}/{self.hard_s}")


LIMITS: dict[TaskName, Limits] = {
    # Probing reads container headers and at most a few frames, on a large file too.
    TaskName.PROBE: Limits(120, 150),
    # One engine decision and a few rows.
    TaskName.PLACE: Limits(60, 90),
    # A unit of work on a GPU: a segment of long media (AIMA_SEGMENT_S), or the whole
    # media for analyses that cannot be cut; generous, so that only a hung unit ends.
    TaskName.ANALYSE: Limits(4 * 3600, 4 * 3600 + 120),
    # Provider API calls, each with its own timeouts; a launch waits for the instance.
    TaskName.PROVISION: Limits(120, 150),
    TaskName.LAUNCH: Limits(600, 660),
    TaskName.TICK: Limits(120, 150),
    TaskName.RECONCILE: Limits(300, 330),
    TaskName.REFRESH_OFFERS: Limits(300, 330),
    TaskName.AUDIT_CHECKPOINT: Limits(120, 150),
    # Each deletion commits on its own: a sweep cut short goes on at the next round.
    TaskName.RETENTION: Limits(600, 660),
    # A few queries, and a placement and a send per job whose units move.
    TaskName.FLEET_HEALTH: Limits(120, 150),
    # A few hundred stuck jobs at most per round, a message or a row each; each job
    # commits on its own, and the next round (AIMA_SWEEP_S) takes the rest.
    TaskName.SWEEP: Limits(60, 90),
    # A few queries, and a mail and a webhook call (5 s at most) per alert that owes them.
    TaskName.ALERTS: Limits(120, 150),
}


def task_options(name: TaskName) -> dict[str, Any]:
    """What ``@app.task(...)`` takes for the task of this name: its name and limits."""
    limits = LIMITS[name]
    return {"name": name.value, "soft_time_limit": limits.soft_s, "time_limit": limits.hard_s}

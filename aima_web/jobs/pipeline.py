"""Pipeline builders: the messages a job's work flows through.

probe → place run on the control queue; place then sends an analyse message
per unit of work to the GPU queue the placement chose (a queue cannot be known
before the media has been probed), through the outbox (aima_web.jobs.outbox).
Agents report the results over HTTPS, not through the broker: a host that can
publish there could forge them.
"""

from __future__ import annotations

from celery import chain

from aima_tasks.kernel.routing import TaskName
from aima_tasks.kernel.work import AnalysisWork
from aima_web.celery import app


def start(job_id: str) -> None:
    chain(
        app.signature(TaskName.PROBE.value, args=(job_id,), immutable=True),
        app.signature(TaskName.PLACE.value, args=(job_id,), immutable=True),
    ).apply_async()


def place(job_id: str) -> None:
    """Send place again on its own (the sweeper, for a job stuck in placing)."""
    app.send_task(TaskName.PLACE.value, args=(job_id,))


def dispatch(units: list[AnalysisWork], queue: str, priority: int = 0) -> None:
    """Send a job's units of work to ``queue`` at ``priority`` (the GPU queues
    are priority queues: ``routing.message_priority``).

    The join lives in the database rather than in a result backend: the control
    plane stores each unit's results as its agent reports them and ends the job
    when the last part is in. A backend's counter would be lost with a
    redelivered unit; stored parts are not, and are never computed twice.
    """
    for work in units:
        app.send_task(TaskName.ANALYSE.value, args=(work.to_dict(),), queue=queue,
                      priority=priority)


def provision() -> None:
    """Ask the control plane to rent GPUs for queued cloud work now."""
    app.send_task(TaskName.PROVISION.value)

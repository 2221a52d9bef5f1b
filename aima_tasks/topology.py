"""The queue topology on the broker: kombu's queues and exchanges for the names
:mod:`aima_tasks.kernel.routing` spells, and the router that sends control tasks
to the control queue."""

from __future__ import annotations

from kombu import Exchange, Queue

from aima_tasks.kernel.routing import CONTROL_QUEUE, CONTROL_TASKS, all_queues


def declared_queues() -> list[Queue]:
    """Durable queues, each bound to its own direct exchange under its name."""
    return [Queue(name, Exchange(name, type="direct", durable=True), routing_key=name,
                  durable=True) for name in all_queues()]


def route_task(name: str, args: object, kwargs: object, options: dict, task=None, **kw) -> dict:
    """Celery router: control tasks go to the control queue; GPU work is routed
    by the placement decision (``queue=`` set when the pipeline is built)."""
    if name in CONTROL_TASKS:
        return {"queue": CONTROL_QUEUE}
    return {}

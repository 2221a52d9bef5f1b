"""The queue topology on the broker: kombu's queues and exchanges for the names
:mod:`aima_tasks.kernel.routing` spells, and the router that sends control tasks
to the control queue."""

from __future__ import annotations

from amqp.exceptions import PreconditionFailed
from kombu import Exchange, Queue

from aima_tasks.kernel.routing import (
    CONTROL_QUEUE,
    CONTROL_TASKS,
    MAX_PRIORITY,
    all_queues,
    is_gpu_queue,
)


def declared_queues() -> list[Queue]:
    """Durable queues, each bound to its own direct exchange under its name;
    the GPU queues are priority queues (``routing.MAX_PRIORITY``).

    RabbitMQ delivers a GPU queue's messages highest priority first. The
    embedded broker (a folder of files) has no priorities: it ignores the
    argument and the messages' priority and delivers in order of arrival, which
    serves its use, a single machine's demo and tests. A broker whose GPU queues
    were declared before they were priority queues refuses the declaration
    (PRECONDITION_FAILED): ``manage.py aima_queues upgrade`` rebuilds them.
    """
    return [Queue(name, Exchange(name, type="direct", durable=True), routing_key=name,
                  durable=True, max_priority=MAX_PRIORITY if is_gpu_queue(name) else None)
            for name in all_queues()]


class QueuesNeedUpgrade(RuntimeError):
    """A GPU queue on the broker is not the priority queue AIMA declares."""


def declare(channel: object, queues: list[Queue]) -> None:
    """Declare ``queues``; a GPU queue of an older declaration is a clear error
    that names the command rebuilding it, instead of the broker's bare 406."""
    for queue in queues:
        try:
            queue(channel).declare()
        except PreconditionFailed as exc:
            raise QueuesNeedUpgrade(
                f"the broker's queue {queue.name} was declared without x-max-priority "
                f"({exc}); stop the control worker and the agents, then run "
                "'manage.py aima_queues upgrade' (deploy/README.md)") from exc


def route_task(name: str, args: object, kwargs: object, options: dict, task=None, **kw) -> dict:
    """Celery router: control tasks go to the control queue; GPU work is routed
    by the placement decision (``queue=`` set when the pipeline is built)."""
    if name in CONTROL_TASKS:
        return {"queue": CONTROL_QUEUE}
    return {}

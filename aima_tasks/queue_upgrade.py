"""Turning GPU queues declared before they were priority queues into priority
queues, in place, on RabbitMQ.

RabbitMQ fixes a queue's arguments when it is declared: declaring an existing
queue again with ``x-max-priority`` fails with PRECONDITION_FAILED (406). The
names stay what they are (the agents' broker permissions name them,
deploy/README.md), so each old queue is rebuilt: its ready messages move to a
holding queue, it is deleted and declared again as a priority queue, and the
messages move back, each given its job's priority. A message moves by a
confirmed publish before its ack: a crash in between leaves a copy in both
queues (an agent refuses a unit it already finished), never none; the holding
queue outlives a crash and the next run empties it first.

Nothing may consume the queue or publish to it meanwhile: a queue with
consumers is left as it is (stop the agents), and the control worker, which
sends GPU work, must be stopped (it would also fail to declare the queues).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amqp import Message
from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Queue
from kombu.utils.json import loads

from aima_tasks import topology
from aima_tasks.kernel import routing

HOLDING_SUFFIX = ".upgrading"


class QueueBusy(RuntimeError):
    """An old queue still has consumers: its agents must stop first."""


@dataclass(frozen=True)
class Upgrade:
    queue: str
    # "priority" (already one), "upgraded" or "busy" (consumers: left as it was).
    outcome: str
    moved: int = 0


def is_priority_queue(conn: Connection, queue: Queue) -> bool:
    """Whether ``queue`` is (or, absent, now becomes) a priority queue: the
    declaration with its arguments succeeds only where they match."""
    channel = conn.channel()
    try:
        queue(channel).declare()
        return True
    except PreconditionFailed:
        return False
    finally:
        _close(channel)


# The level a moved message gets, from its decoded body and its headers.
PriorityOf = Callable[[Any, dict], int]


def upgrade(conn: Connection, priority_of: PriorityOf) -> list[Upgrade]:
    """Make every GPU queue a priority queue; a moved message gets the level
    ``priority_of`` answers (its job's, which the caller reads)."""
    done = []
    for queue in topology.declared_queues():
        if not routing.is_gpu_queue(queue.name):
            continue
        holding = Queue(queue.name + HOLDING_SUFFIX, durable=True,
                        max_priority=routing.MAX_PRIORITY)
        if is_priority_queue(conn, queue):
            # A run that stopped after the rebuild: bring the held messages back.
            moved = _move(conn, holding.name, queue, priority_of, create=False)
            _delete(conn, holding.name)
            done.append(Upgrade(queue.name, "priority", moved))
            continue
        channel = conn.channel()
        try:
            _, _, consumers = channel.queue_declare(queue.name, passive=True)
        finally:
            _close(channel)
        if consumers:
            done.append(Upgrade(queue.name, "busy"))
            continue
        _move(conn, queue.name, holding, priority_of)
        _delete(conn, queue.name)
        moved = _move(conn, holding.name, queue, priority_of)
        _delete(conn, holding.name)
        done.append(Upgrade(queue.name, "upgraded", moved))
    return done


def _move(conn: Connection, source: str, target: Queue, priority_of: PriorityOf,
          create: bool = True) -> int:
    """Move every ready message of ``source`` to ``target`` (declared first);
    return how many moved."""
    channel = conn.channel()
    try:
        if create:
            target(channel).declare()
        channel.confirm_select()
        moved = 0
        while True:
            try:
                message = channel.basic_get(queue=source, no_ack=False)
            except NotFound:
                return moved  # no such queue: nothing held
            if message is None:
                return moved
            properties = dict(message.properties)
            headers = properties.get("application_headers") or {}
            properties["priority"] = priority_of(_decoded(message.body), headers)
            properties["delivery_mode"] = 2
            channel.basic_publish(Message(message.body, **properties), exchange="",
                                  routing_key=target.name)
            channel.basic_ack(message.delivery_tag)
            moved += 1
    finally:
        _close(channel)


def _decoded(body: bytes | str) -> Any:
    try:
        return loads(body)
    except (TypeError, ValueError):
        return None


def _delete(conn: Connection, name: str) -> None:
    channel = conn.channel()
    try:
        channel.queue_delete(name, if_unused=True, if_empty=True)
    except NotFound:
        pass  # gone already
    finally:
        _close(channel)


def _close(channel: object) -> None:
    # A channel the broker closed (the 406 of a mismatched declaration) is closed already.
    with contextlib.suppress(Exception):
        channel.close()  # type: ignore[attr-defined]

"""Queue series: ready messages per queue from the broker, and the age of the
oldest job waiting in each queue from the database.

The count is a passive queue_declare, which RabbitMQ and the embedded broker
(kombu's filesystem transport: it counts the queue's message files) both
answer. The age is not read from the messages: RabbitMQ cannot show a
message's age without taking it, so it is the wait of the oldest job that
the database says is still waiting there (jobs.waiting_since) — an honest
"oldest job in this queue", the same on both brokers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from kombu.exceptions import OperationalError as BrokerError
from prometheus_client.core import Metric

from aima_tasks.kernel.routing import all_queues
from aima_web.monitoring.families import gauge
from aima_web.monitoring.jobs import waiting_since
from aima_web.placement.models import PlacementPolicy

logger = logging.getLogger(__name__)


def ready_messages() -> dict[str, int] | None:
    """Messages ready per queue (a queue not declared yet holds none), or None
    when the broker cannot be reached: the other series are still worth a scrape."""
    from aima_web.celery import app  # the web process's Celery app, imported when needed

    counts: dict[str, int] = {}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            for queue in all_queues():
                counts[queue] = _count(conn, queue)
    except (BrokerError, OSError) as exc:
        logger.warning("metrics: the broker is unreachable, no queue depths: %s", exc)
        return None
    return counts


def _count(conn, queue: str) -> int:
    # A passive declare of a missing queue closes the channel on RabbitMQ: one channel each.
    channel = conn.channel()
    try:
        _, messages, _ = channel.queue_declare(queue, passive=True)
        return int(messages)
    except conn.channel_errors:
        return 0
    finally:
        try:
            channel.close()
        except conn.connection_errors + conn.channel_errors:
            pass


def queue_families(now: datetime, policy: PlacementPolicy) -> Iterator[Metric]:
    messages = gauge("aima_queue_messages")
    counts = ready_messages()
    for queue, n in (counts or {}).items():
        messages.add_metric([queue], n)
    yield messages
    oldest = gauge("aima_queue_oldest_message_age_seconds")
    waiting = waiting_since()
    for queue in all_queues():
        since = waiting.get(queue)
        oldest.add_metric([queue], max((now - since).total_seconds(), 0.0) if since else 0.0)
    yield oldest
    # The longest any job should wait for a local GPU (max_local_wait_s): urgent
    # jobs have a shorter one, but this is the target every queue is held to.
    target = gauge("aima_queue_wait_target_seconds")
    target.add_metric([], float(policy.max_local_wait_s))
    yield target

"""One Celery configuration for every AIMA process: control worker and agents.

The control plane's app declares every queue and exchange; an agent's app
(:func:`make_agent_app`) only consumes. On RabbitMQ a cloud agent's user may
read its own GPU queue and nothing else (``aima_web/instances/broker_accounts``):
its worker must declare nothing, publish nothing (no events, no heartbeats, no
remote-control replies, no mingle or gossip) and still take, run and
acknowledge its tasks.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init
from celery.worker.consumer import Consumer
from kombu import Connection, Queue

from aima_tasks import broker, topology
from aima_tasks.kernel import routing


def make_app(main: str) -> Celery:
    """The control plane's app: it declares the whole queue topology."""
    url = broker.broker_url()
    return configured(main, url, topology.declared_queues(),
                      remote_control=not broker.is_embedded(url), task_events=True)


def make_agent_app(main: str) -> Celery:
    """An agent's app: consumes the queues the control plane declared, and
    sends nothing to the broker. Its worker runs :class:`AgentConsumer`."""
    url = broker.broker_url()
    queues = topology.declared_queues()
    if not broker.is_embedded(url):
        # Declaring needs RabbitMQ's configure permission, which agents lack.
        queues = [consume_only(queue) for queue in queues]
    app = configured(main, url, queues, remote_control=False, task_events=False)
    app.conf.worker_consumer = f"{__name__}:AgentConsumer"
    return app


@worker_init.connect
def declare_queues(sender: object, **_kwargs: object) -> None:
    """A worker starting declares its app's queues: the control worker all of
    them, so that an agent (which may not declare) finds its queues even
    before any work was sent there; an agent's app none (``no_declare``)."""
    app = sender.app
    queues = [queue for queue in app.conf.task_queues if not queue.no_declare]
    if not queues:
        return  # an agent on RabbitMQ: nothing to declare, no connection to open for it
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=app.conf.broker_connection_max_retries)
        topology.declare(conn.default_channel, queues)


def consume_only(queue: Queue) -> Queue:
    return Queue(queue.name, queue.exchange, routing_key=queue.routing_key,
                 durable=queue.durable, no_declare=True)


class AgentConsumer(Consumer):
    """A worker's consumer that never publishes: whatever the command line
    says, no worker events or heartbeats (``celeryev``), no mingle or gossip
    (they broadcast on ``celery.pidbox``)."""

    def __init__(self, *args: object, worker_options: dict | None = None,
                 **kwargs: object) -> None:
        kwargs["task_events"] = False
        super().__init__(*args, worker_options={
            **(worker_options or {}), "without_mingle": True, "without_gossip": True,
            "without_heartbeat": True}, **kwargs)


class BoundedPublishing(Celery):
    """A Celery app whose connections for writing (the producer pool: every task
    sent, by the web or a worker) wait on the broker at most the publish timeout
    (``broker.publish_connection_options``); connections for reading are Celery's own."""

    def connection_for_write(self, url: str | None = None, **kwargs: Any) -> Connection:
        bounds = broker.publish_connection_options(url or self.conf.broker_url)
        kwargs.setdefault("connect_timeout", bounds.get("connect_timeout"))
        kwargs["transport_options"] = {**bounds.get("transport_options", {}),
                                       **(kwargs.get("transport_options") or {})}
        return super().connection_for_write(url, **kwargs)


def configured(main: str, url: str, queues: list[Queue], remote_control: bool,
               task_events: bool = False) -> Celery:
    app = BoundedPublishing(main, broker=url, set_as_current=True)
    app.conf.update(
        broker_transport=broker.transport(url),
        broker_transport_options=broker.transport_options(url),
        broker_use_ssl=broker.ssl_options(url),
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy=broker.publish_retry_policy(),
        task_queues=queues,
        task_default_queue=routing.CONTROL_QUEUE,
        task_routes=(topology.route_task,),
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        # Agents hand results back over HTTPS; nothing reads a result backend.
        task_ignore_result=True,
        # A task is acknowledged only once done, and a worker that dies mid-task
        # gives it back to the broker: GPU work is never silently lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The embedded broker cannot broadcast; agents answer no remote control.
        worker_enable_remote_control=remote_control,
        # The control worker's events feed Flower (on the embedded broker too: its
        # topic exchange reaches Flower's queue); an agent's are sent for it by the
        # control plane (aima_web/taskmonitor/relay.py), since agents publish nothing.
        worker_send_task_events=task_events,
        worker_hijack_root_logger=False,
    )
    return app

"""One Celery configuration for every AIMA process: control worker and agents."""

from __future__ import annotations

from celery import Celery

from aima_tasks import broker, routing


def make_app(main: str) -> Celery:
    url = broker.broker_url()
    embedded = broker.is_embedded(url)
    app = Celery(main, broker=url, set_as_current=True)
    app.conf.update(
        broker_transport_options=broker.transport_options(url),
        broker_connection_retry_on_startup=True,
        task_queues=routing.declared_queues(),
        task_default_queue=routing.CONTROL_QUEUE,
        task_routes=(routing.route_task,),
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        # Results travel along the chain in the messages; nothing reads a backend.
        task_ignore_result=True,
        # A task is acknowledged only once done, and a worker that dies mid-task
        # gives it back to the broker: GPU work is never silently lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=not embedded,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app

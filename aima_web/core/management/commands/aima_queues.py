"""``python manage.py aima_queues status|upgrade``: the GPU queues on the broker.

The GPU queues are RabbitMQ priority queues (``aima_tasks.topology``). A broker
set up before they were keeps plain queues of the same names, and RabbitMQ
refuses to declare them again with other arguments (PRECONDITION_FAILED): the
control worker stops with a line naming this command. ``upgrade`` rebuilds each
plain GPU queue as a priority queue, keeping its messages (each given its job's
priority), and leaves alone a queue that agents still consume; stop the
control worker and the agents first. ``status`` says which queues are which.
The embedded broker has no priorities and nothing to upgrade.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu import Connection
from kombu.exceptions import OperationalError

from aima_tasks import broker, queue_upgrade, topology
from aima_tasks.kernel import routing
from aima_web.jobs.models import Job

MIDDLE = routing.message_priority(0)


class Command(BaseCommand):
    help = "Show the GPU queues on the broker, or rebuild plain ones as priority queues."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=("status", "upgrade"))

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        url = settings.AIMA_BROKER_URL
        if broker.is_embedded(url):
            self.stdout.write("the embedded broker has no priority queues: nothing to do")
            return
        try:
            with Connection(url, ssl=broker.ssl_options(url), connect_timeout=10) as conn:
                conn.ensure_connection(max_retries=1)
                if action == "status":
                    self._status(conn)
                else:
                    self._upgrade(conn)
        except (OSError, OperationalError) as exc:
            raise CommandError(f"cannot reach the broker: {exc}") from None

    def _status(self, conn: Connection) -> None:
        for queue in topology.declared_queues():
            if routing.is_gpu_queue(queue.name):
                kind = ("priority" if queue_upgrade.is_priority_queue(conn, queue)
                        else "plain: run 'aima_queues upgrade'")
                self.stdout.write(f"{queue.name}: {kind}")

    def _upgrade(self, conn: Connection) -> None:
        busy = []
        for done in queue_upgrade.upgrade(conn, job_priority):
            self.stdout.write(f"{done.queue}: {done.outcome}"
                              + (f", {done.moved} messages moved" if done.moved else ""))
            if done.outcome == "busy":
                busy.append(done.queue)
        if busy:
            raise CommandError(f"{', '.join(busy)} still have consumers: stop their agents "
                               "and run this again")


def job_priority(body: Any, headers: dict) -> int:
    """A Celery analyse message's level: its job's priority and urgency (the
    body is [args, kwargs, embed], args[0] the unit of work); the middle level
    for a message of no known job."""
    try:
        job_id = uuid.UUID(str(body[0][0]["job_id"]))
    except (TypeError, KeyError, IndexError, ValueError):
        return MIDDLE
    job = Job.objects.filter(pk=job_id).only("priority", "urgency").first()
    return routing.message_priority(job.priority, job.urgency) if job else MIDDLE

"""The GPU queues are priority queues on RabbitMQ: a higher-priority job's unit
is delivered before the lower-priority units queued before it. A broker whose
GPU queues predate that is told what to run, and ``aima_queues upgrade``
rebuilds them keeping every message, each at its job's priority."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from django.core.management import CommandError, call_command
from kombu import Connection, Exchange, Queue

from aima_tasks import queue_upgrade, topology
from aima_tasks.kernel import routing
from aima_web.jobs.models import Job, MediaAsset
from tests.broker.test_consumer_only_agent import start_worker, stop, wait_for
from tests.rabbitmq_node import Node

pytestmark = pytest.mark.django_db

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUEUE = "gpu.local.24"


def publish(broker_url: str, queue: str, units: list[tuple[str, int]]) -> list[str]:
    """Send units the way the control plane does (its Celery app, in a process
    of its own): (job id, priority) in this order; return their task ids."""
    sent = subprocess.run([sys.executable, "-c", (
        "import sys, json; from aima_tasks.celery_config import make_app; "
        "app = make_app('aima-control'); "
        "print(json.dumps([app.send_task('aima.analyse', args=[{'job_id': j}], "
        "queue=sys.argv[2], priority=p).id for j, p in json.loads(sys.argv[1])]))"),
        json.dumps(units), queue], env={**os.environ, "AIMA_BROKER_URL": broker_url},
        cwd=PROJECT_ROOT, check=True, timeout=60, capture_output=True, text=True)
    return json.loads(sent.stdout.strip().splitlines()[-1])


def delivered(broker_url: str, queue: str) -> list[tuple[str, int]]:
    """Every unit of ``queue`` in the order the broker hands them to a consumer."""
    got = []
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
            args = json.loads(message.body)[0]
            got.append((args[0]["job_id"], message.properties.get("priority")))
    return got


def test_a_high_priority_unit_is_delivered_before_the_low_ones_queued_earlier(rabbitmq: Node,
                                                                             vhost: str):
    url = rabbitmq.amqp_url(vhost=vhost)
    low, normal = routing.message_priority(-1, "low"), routing.message_priority(0)
    high = routing.message_priority(5, "high")
    assert low < normal < high == routing.MAX_PRIORITY
    publish(url, QUEUE, [("low-1", low), ("normal-1", normal), ("low-2", low)])
    publish(url, QUEUE, [("high", high)])
    assert [job for job, _ in delivered(url, QUEUE)] == ["high", "normal-1", "low-1", "low-2"]


def test_an_agent_worker_runs_the_high_priority_unit_before_the_low_ones(rabbitmq: Node,
                                                                        vhost: str, tmp_path):
    """The same through an agent's Celery worker (prefetch 1, acks late), started
    once the units wait: it takes the high one first, then the rest by arrival."""
    url = rabbitmq.amqp_url(vhost=vhost)
    low = routing.message_priority(0, "low")
    ids = publish(url, QUEUE, [(f"low-{i}", low) for i in range(3)])
    [high] = publish(url, QUEUE, [("high", routing.message_priority(2, "high"))])
    log = tmp_path / "worker.log"
    worker = start_worker(url, tmp_path / "done.json", log, queue=QUEUE)
    try:
        assert wait_for(lambda: log.read_text().count("succeeded") == 4), log.read_text()
    finally:
        stop(worker)
    ran = re.findall(r"Task aima\.analyse\[([0-9a-f-]+)\] received", log.read_text())
    assert ran == [high, *ids]


def test_a_plain_gpu_queue_is_a_clear_error_naming_the_upgrade(rabbitmq: Node):
    url = legacy_vhost(rabbitmq)
    with Connection(url) as conn, pytest.raises(topology.QueuesNeedUpgrade) as caught:
        topology.declare(conn.default_channel, topology.declared_queues())
    assert "aima_queues upgrade" in str(caught.value) and "x-max-priority" in str(caught.value)


def test_a_control_worker_on_plain_gpu_queues_stops_naming_the_upgrade(rabbitmq: Node,
                                                                       tmp_path):
    log = tmp_path / "worker.log"
    worker = start_worker(legacy_vhost(rabbitmq), tmp_path / "done.json", log, app="control",
                          queue=QUEUE)
    try:
        assert wait_for(lambda: worker.poll() is not None), log.read_text()
    finally:
        stop(worker)
    assert worker.returncode != 0
    assert "QueuesNeedUpgrade" in log.read_text() and "aima_queues upgrade" in log.read_text()


def test_upgrade_rebuilds_plain_queues_keeping_each_message_at_its_jobs_priority(
        rabbitmq: Node, settings, alice):
    url = legacy_vhost(rabbitmq)
    settings.AIMA_BROKER_URL = url
    asset = MediaAsset.objects.create(sha256="ab" * 32, size_bytes=10, media_type="image")
    urgent = Job.objects.create(owner=alice, media=asset, priority=3, urgency="high")
    plain = Job.objects.create(owner=alice, media=asset)
    unknown = str(uuid.uuid4())
    # Published before the upgrade, at no priority: the order of arrival.
    publish_plain(url, QUEUE, [str(plain.id), unknown, str(urgent.id)])

    out = io.StringIO()
    call_command("aima_queues", "upgrade", stdout=out)
    assert f"{QUEUE}: upgraded, 3 messages moved" in out.getvalue()
    out = io.StringIO()
    call_command("aima_queues", "status", stdout=out)
    assert out.getvalue().count(": priority") == 10
    with Connection(url) as conn:
        # Declared as AIMA declares it now: no 406.
        topology.declare(conn.default_channel, topology.declared_queues())
    middle = routing.message_priority(0)
    assert delivered(url, QUEUE) == [(str(urgent.id), routing.message_priority(3, "high")),
                                     (str(plain.id), middle), (unknown, middle)]
    # Work sent now still reaches the rebuilt queue through its exchange.
    publish(url, QUEUE, [("after", 1)])
    assert delivered(url, QUEUE) == [("after", 1)]


def test_upgrade_leaves_a_queue_its_agents_still_consume(rabbitmq: Node, settings):
    url = legacy_vhost(rabbitmq)
    settings.AIMA_BROKER_URL = url
    publish_plain(url, QUEUE, ["kept"])
    with Connection(url) as agent:
        agent.default_channel.basic_consume(queue=QUEUE, callback=lambda message: None)
        with pytest.raises(CommandError, match=f"{QUEUE} still have consumers"):
            call_command("aima_queues", "upgrade", stdout=io.StringIO())
        with Connection(url) as conn:
            assert not queue_upgrade.is_priority_queue(
                conn, next(q for q in topology.declared_queues() if q.name == QUEUE))


def legacy_vhost(rabbitmq: Node) -> str:
    """A vhost with the queues as AIMA declared them before the GPU queues were
    priority queues."""
    name = f"aima-legacy-{uuid.uuid4().hex[:8]}"
    rabbitmq.add_vhost(name)
    url = rabbitmq.amqp_url(vhost=name)
    with Connection(url) as conn:
        for queue in topology.declared_queues():
            Queue(queue.name, Exchange(queue.name, type="direct", durable=True),
                  routing_key=queue.name, durable=True)(conn.default_channel).declare()
    return url


def publish_plain(url: str, queue: str, job_ids: list[str]) -> None:
    """Units as an older control plane sent them: no priority."""
    with Connection(url) as conn:
        producer = conn.Producer()
        for job_id in job_ids:
            producer.publish([[{"job_id": job_id}], {}, {}], exchange=queue, routing_key=queue,
                             serializer="json", headers={"task": "aima.analyse"})

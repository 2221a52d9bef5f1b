"""The local agents' broker user, with the permissions deploy/README.md
gives it: read the local GPU queues, nothing else, publish nowhere."""

from __future__ import annotations

import pytest
from amqp import Message
from amqp.exceptions import AccessRefused
from kombu import Connection

from tests.broker.test_cloud_broker_user import attempt
from tests.rabbitmq_node import Node

# deploy/README.md, "RabbitMQ": configure, write, read.
LOCAL_AGENT_PERMISSIONS = {"configure": "^$", "write": "^$", "read": r"^gpu\.local\.[0-9]+$"}


@pytest.fixture
def local_agent_url(rabbitmq: Node, vhost: str) -> str:
    rabbitmq.api("PUT", "users/aima-local-agent", {"password": "local-secret", "tags": ""})
    rabbitmq.api("PUT", f"permissions/{vhost}/aima-local-agent", LOCAL_AGENT_PERMISSIONS)
    return rabbitmq.amqp_url("aima-local-agent", "local-secret", vhost)


@pytest.mark.parametrize("queue", ["gpu.local.8", "gpu.local.24", "gpu.local.80"])
def test_a_local_agent_consumes_the_local_gpu_queues(local_agent_url, queue):
    with Connection(local_agent_url) as conn:
        assert conn.default_channel.basic_get(queue=queue) is None  # allowed, and empty


@pytest.mark.parametrize("queue", ["control", "gpu.cloud.24", "celeryev"])
def test_a_local_agent_reads_nothing_else(local_agent_url, queue):
    with pytest.raises(AccessRefused):
        attempt(local_agent_url, lambda ch: ch.basic_get(queue=queue))


@pytest.mark.parametrize("exchange", ["control", "gpu.local.24", "celeryev", "celery.pidbox"])
def test_a_local_agent_publishes_nowhere(local_agent_url, exchange):
    with pytest.raises(AccessRefused):
        attempt(local_agent_url, lambda ch: ch.basic_publish_confirm(
            Message("{}"), exchange=exchange, routing_key=exchange))

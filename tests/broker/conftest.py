"""One private RabbitMQ node for the whole session (AMQP, AMQPS and the
management API), and a vhost per test on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange

from aima_tasks import topology
from tests import rabbitmq_node
from tests.broker.certificates import server_files
from tests.rabbitmq_node import Node, TlsFiles


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TlsFiles:
    return server_files(tmp_path_factory.mktemp("broker-tls"))


MINTER, MINTER_PASSWORD = "aima-admin", "minter-secret"


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory, tls_files: TlsFiles) -> Iterator[Node]:
    node = rabbitmq_node.start(tmp_path_factory.mktemp("rabbitmq") / "node", tls=tls_files)
    # The management API user deploy/README.md makes: the administrator tag,
    # no permission on any vhost.
    node.api("PUT", f"users/{MINTER}", {"password": MINTER_PASSWORD, "tags": "administrator"})
    yield node
    node.stop()


@pytest.fixture
def vhost(rabbitmq: Node) -> Iterator[str]:
    """A fresh vhost with AIMA's queues, as the control plane declares them,
    and Celery's event and remote-control exchanges."""
    name = f"aima-{uuid.uuid4().hex[:8]}"
    rabbitmq.add_vhost(name)
    with Connection(rabbitmq.amqp_url(vhost=name)) as conn:
        channel = conn.default_channel
        for queue in topology.declared_queues():
            queue(channel).declare()
        Exchange("celeryev", type="topic", durable=True)(channel).declare()
        Exchange("celery.pidbox", type="fanout", durable=False)(channel).declare()
    yield name
    rabbitmq.api("DELETE", f"vhosts/{name}")


@pytest.fixture
def broker_settings(settings, rabbitmq: Node, vhost: str):
    """The control plane on the private node, with its management API."""
    settings.AIMA_BROKER_URL = rabbitmq.amqp_url(vhost=vhost)
    settings.AIMA_BROKER_ADMIN_URL = f"http://{MINTER}:{MINTER_PASSWORD}@127.0.0.1:" \
                                     f"{rabbitmq.management_port}/"
    # Where agents reach the broker: the host part only (these credentials must not travel).
    settings.AIMA_AGENT_BROKER_URL = f"amqp://someone:not-handed-out@127.0.0.1:{rabbitmq.amqp_port}/"
    settings.AIMA_DEPLOYMENT_ID = f"test-{vhost}"
    return settings

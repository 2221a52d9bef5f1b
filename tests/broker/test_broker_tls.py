"""RabbitMQ over TLS: the broker's certificate and host name are checked
against AIMA_BROKER_CA (a file, or its PEM text as cloud agents get it), and
a connection that cannot prove the broker is refused."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import pytest
from kombu import Connection, Queue

from aima_tasks import broker
from aima_web.instances import broker_accounts, launching
from tests.broker.certificates import authority
from tests.broker.test_cloud_broker_user import cloud_instance
from tests.broker.test_consumer_only_agent import send_as_control_plane
from tests.rabbitmq_node import ADMIN_PASSWORD, ADMIN_USER, Node

pytestmark = pytest.mark.django_db


def amqps_url(node: Node, vhost: str, host: str = "localhost") -> str:
    return f"amqps://{ADMIN_USER}:{ADMIN_PASSWORD}@{host}:{node.amqps_port}/{vhost}"


def refusal(url: str) -> BaseException | None:
    """Why a TLS connection to ``url`` with the configured trust failed, or None."""
    try:
        with Connection(url, ssl=broker.ssl_options(url), connect_timeout=10) as conn:
            conn.connect()
    except Exception as exc:  # kombu may wrap the SSL error: look along the chain
        return exc
    return None


def verification_failure(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def test_the_control_plane_sends_over_tls_with_its_ca(rabbitmq, vhost, tls_files, monkeypatch):
    monkeypatch.setenv("AIMA_BROKER_CA", str(tls_files.ca))
    url = amqps_url(rabbitmq, vhost)
    assert refusal(url) is None
    send_as_control_plane(url, "gpu.cloud.24", {"job_id": "over-tls"})
    with Connection(rabbitmq.amqp_url(vhost=vhost)) as conn:
        message = conn.default_channel.basic_get(queue="gpu.cloud.24", no_ack=True)
    assert message is not None and "over-tls" in message.body


def test_a_cloud_agent_gets_the_ca_and_consumes_over_tls(rabbitmq, broker_settings, vhost,
                                                         tls_files, monkeypatch):
    monkeypatch.setenv("AIMA_BROKER_CA", str(tls_files.ca))
    broker_settings.AIMA_AGENT_BROKER_URL = f"amqps://localhost:{rabbitmq.amqps_port}/"
    env = launching.launch_spec(cloud_instance(), "enrollment-secret").env
    assert env["AIMA_BROKER_URL"].startswith("amqps://aima-cloud-")
    # The host has no copy of the control plane's CA file: it gets the certificate itself.
    assert env["AIMA_BROKER_CA"] == tls_files.ca.read_text()
    send_as_control_plane(broker_settings.AIMA_BROKER_URL, "gpu.cloud.24", {"job_id": "tls"})
    # The agent, with nothing but its environment.
    monkeypatch.setenv("AIMA_BROKER_CA", env["AIMA_BROKER_CA"])
    url = env["AIMA_BROKER_URL"]
    with Connection(url, ssl=broker.ssl_options(url)) as conn:
        message = conn.SimpleQueue(Queue("gpu.cloud.24", no_declare=True)).get(timeout=10)
        message.ack()
    assert message.payload[0][0] == {"job_id": "tls"}


def test_a_broker_signed_by_another_ca_is_refused(rabbitmq, vhost, tmp_path, monkeypatch):
    other_ca, _, _ = authority(tmp_path, "not-the-brokers-ca")
    monkeypatch.setenv("AIMA_BROKER_CA", str(other_ca))
    assert verification_failure(refusal(amqps_url(rabbitmq, vhost))) is not None


def test_the_systems_cas_do_not_vouch_for_a_private_ca(rabbitmq, vhost, monkeypatch):
    monkeypatch.delenv("AIMA_BROKER_CA", raising=False)
    assert verification_failure(refusal(amqps_url(rabbitmq, vhost))) is not None


def test_a_broker_reached_by_a_name_its_certificate_lacks_is_refused(rabbitmq, vhost, tls_files,
                                                                     monkeypatch):
    monkeypatch.setenv("AIMA_BROKER_CA", str(tls_files.ca))
    failure = verification_failure(refusal(amqps_url(rabbitmq, vhost, host="127.0.0.1")))
    assert failure is not None and "mismatch" in str(failure)


def test_a_client_certificate_needs_its_key(monkeypatch):
    monkeypatch.setenv("AIMA_BROKER_CERT", "/etc/aima/broker-client.pem")
    monkeypatch.delenv("AIMA_BROKER_KEY", raising=False)
    with pytest.raises(broker.BrokerTlsError, match="AIMA_BROKER_KEY"):
        broker.ssl_options("amqps://mq.example.org//")
    assert broker.ssl_options("amqp://mq.example.org//") is False


def test_the_management_api_over_https_is_checked_against_the_ca(rabbitmq, broker_settings,
                                                                  tls_files, tmp_path,
                                                                  monkeypatch):
    minter = urlsplit(broker_settings.AIMA_BROKER_ADMIN_URL)
    broker_settings.AIMA_BROKER_ADMIN_URL = \
        f"https://{minter.username}:{minter.password}@localhost:{rabbitmq.management_tls_port}/"
    monkeypatch.setenv("AIMA_BROKER_CA", str(tls_files.ca))
    instance = cloud_instance()
    assert broker_accounts.mint(instance.pk, 24).startswith("amqp://aima-cloud-")
    other_ca, _, _ = authority(tmp_path, "not-the-brokers-ca")
    monkeypatch.setenv("AIMA_BROKER_CA", str(other_ca))
    with pytest.raises(broker_accounts.BrokerAccountError, match="AIMA_BROKER_CA") as refused:
        broker_accounts.mint(instance.pk, 24)
    assert not refused.value.retryable  # a certificate that fails will not pass on retry

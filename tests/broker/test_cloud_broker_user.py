"""Attacks on the broker by a rented host, against a real RabbitMQ node.

The control plane launches an instance of the 24 GB class; its agent's broker
URL is what a rented host learns. Used as an attacker would (kombu/py-amqp
straight), that user can read ``gpu.cloud.24`` and nothing else: not the
control queue, not local (possibly confidential) work, not another class, and
it can publish nowhere (no forged control messages, no worker events, no
remote-control ``shutdown``) and declare nothing. Once the instance ends, the
user is gone.
"""

from __future__ import annotations

import pytest
from amqp import Message
from amqp.exceptions import AccessRefused, ConnectionForced
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from aima_web.audit.models import AuditEvent
from aima_web.instances import broker_accounts, ending, launching, offers, reconcile, registry
from aima_web.instances.models import CloudInstance, InstanceState
from providers.base import Requirements

pytestmark = pytest.mark.django_db


def cloud_instance(gpu_class: int = 24, state: InstanceState = InstanceState.PROVISIONING,
                   **fields) -> CloudInstance:
    return CloudInstance.objects.create(
        provider="subprocess", offer_id="subprocess:test", instance_type="test",
        gpu_model="Test GPU", gpu_class=gpu_class, price_per_hour=0.5, state=state,
        requested_at=timezone.now(), **fields)


@pytest.fixture
def instance(broker_settings) -> CloudInstance:
    return cloud_instance()


@pytest.fixture
def agent_url(instance: CloudInstance) -> str:
    """The broker URL the instance's launch hands its host."""
    return launching.launch_spec(instance, "enrollment-secret").env["AIMA_BROKER_URL"]


def publish_as_control_plane(settings, queue: str, body: dict) -> None:
    with Connection(settings.AIMA_BROKER_URL) as conn:
        conn.Producer().publish(body, exchange=queue, routing_key=queue, serializer="json")


def attempt(url: str, action) -> None:
    """Run ``action(channel)`` as the host; publishing waits for the broker's
    confirmation, so that a refused publish raises here."""
    with Connection(url) as conn:
        channel = conn.default_channel
        channel.confirm_select()
        action(channel)


def test_the_host_gets_a_user_of_its_own_and_never_the_control_planes(broker_settings,
                                                                        instance, agent_url):
    assert broker_settings.AIMA_BROKER_URL not in agent_url
    assert "aima-test-admin-secret" not in agent_url  # the control plane's password
    assert "not-handed-out" not in agent_url  # nor what AIMA_AGENT_BROKER_URL carried
    assert agent_url.startswith(f"amqp://{broker_accounts.user_name(instance.pk)}:")
    assert AuditEvent.objects.filter(action="broker.user_created",
                                     subject=f"instance:{instance.pk}").exists()


@pytest.mark.parametrize("queue", ["control", "gpu.local.24", "gpu.local.8", "gpu.cloud.48",
                                   "gpu.cloud.8"])
def test_the_host_cannot_consume_other_queues(agent_url, broker_settings, queue):
    publish_as_control_plane(broker_settings, queue, {"secret": queue})
    with pytest.raises(AccessRefused):
        attempt(agent_url, lambda ch: ch.basic_consume(queue=queue, callback=print))
    with pytest.raises(AccessRefused):
        attempt(agent_url, lambda ch: ch.basic_get(queue=queue))
    with pytest.raises(AccessRefused):
        attempt(agent_url, lambda ch: ch.queue_purge(queue=queue))


@pytest.mark.parametrize(("exchange", "routing_key"), [
    ("control", "control"),
    ("", "control"),  # the default exchange, straight to the queue
    ("gpu.local.24", "gpu.local.24"),
    ("gpu.cloud.24", "gpu.cloud.24"),  # not even its own queue
    ("celeryev", "worker.heartbeat"),
    ("celery.pidbox", ""),  # remote control: a broadcast shutdown
])
def test_the_host_cannot_publish(agent_url, exchange, routing_key):
    message = {"method": "shutdown", "arguments": {}} if exchange == "celery.pidbox" else \
        {"task": "aima.finalize", "forged": True}

    def publish(channel) -> None:
        channel.basic_publish_confirm(Message(str(message)), exchange=exchange,
                                      routing_key=routing_key)

    with pytest.raises(AccessRefused):
        attempt(agent_url, publish)


@pytest.mark.parametrize("declare", [
    lambda ch: Queue("evil", Exchange("evil"), "evil")(ch).declare(),
    lambda ch: Exchange("evil", type="fanout")(ch).declare(),
    lambda ch: ch.queue_declare(queue="", exclusive=True),  # a private reply queue
    lambda ch: ch.queue_bind(queue="gpu.cloud.24", exchange="control", routing_key="control"),
    lambda ch: ch.queue_delete(queue="control"),
    lambda ch: ch.exchange_delete(exchange="control"),
], ids=["queue", "exchange", "server-named-queue", "bind", "delete-queue", "delete-exchange"])
def test_the_host_cannot_declare_bind_or_delete(agent_url, declare):
    with pytest.raises(AccessRefused):
        attempt(agent_url, declare)


def test_the_host_consumes_and_acknowledges_its_own_queue(agent_url, broker_settings):
    publish_as_control_plane(broker_settings, "gpu.cloud.24", {"job": "mine"})
    with Connection(agent_url) as conn:
        message = conn.SimpleQueue(Queue("gpu.cloud.24", no_declare=True)).get(timeout=5)
        assert message.payload == {"job": "mine"}
        message.ack()
    with Connection(broker_settings.AIMA_BROKER_URL) as conn:
        assert conn.default_channel.basic_get(queue="gpu.cloud.24") is None  # acknowledged


def login_refused(url: str) -> bool:
    try:
        with Connection(url) as conn:
            conn.connect()
    except AccessRefused:
        return True
    return False


@pytest.mark.parametrize("failed", [False, True], ids=["terminated", "failed"])
def test_the_user_is_gone_once_the_instance_ends(rabbitmq, broker_settings, agent_url,
                                                 instance, failed):
    CloudInstance.objects.filter(pk=instance.pk).update(state=InstanceState.IDLE)
    instance.refresh_from_db()
    assert not login_refused(agent_url)
    with Connection(agent_url) as still_connected:
        channel = still_connected.default_channel
        assert ending.terminate(instance, "test over", failed=failed)
        # A host still connected is cut off too.
        with pytest.raises(ConnectionForced):
            channel.basic_get(queue="gpu.cloud.24")
    instance.refresh_from_db()
    assert instance.state == (InstanceState.FAILED if failed else InstanceState.TERMINATED)
    assert broker_accounts.user_name(instance.pk) not in rabbitmq.users()
    assert login_refused(agent_url)
    assert AuditEvent.objects.filter(action="broker.user_deleted",
                                     subject=f"instance:{instance.pk}").exists()
    # Ending it again (the reconciler, a retry) finds nothing to delete and is fine.
    assert broker_accounts.remove(instance.pk)


def test_a_failed_launch_deletes_the_user_it_made(broker_settings, agent_url, instance):
    launching.launch_failed(instance, RuntimeError("the provider fell over"))
    assert login_refused(agent_url)


def test_the_reconciler_deletes_users_of_ended_or_unknown_instances(rabbitmq, broker_settings,
                                                                     monkeypatch, tmp_path):
    monkeypatch.setenv("AIMA_SUBPROCESS_STATE_DIR", str(tmp_path / "instances"))
    registry.reload_providers()
    live = cloud_instance(state=InstanceState.IDLE)
    ended = cloud_instance(state=InstanceState.IDLE)
    live_url = broker_accounts.mint(live.pk, 24)
    ended_url = broker_accounts.mint(ended.pk, 24)
    unknown_url = broker_accounts.mint(ended.pk + 1000, 24)
    # Ended while the management API was down: its user stayed behind.
    CloudInstance.objects.filter(pk=ended.pk).update(state=InstanceState.TERMINATED)
    report = reconcile.reconcile()
    assert sorted(report["broker_users_removed"]) == sorted(
        [broker_accounts.user_name(ended.pk), broker_accounts.user_name(ended.pk + 1000)])
    assert login_refused(ended_url) and login_refused(unknown_url)
    assert not login_refused(live_url)
    assert {"aima-test-admin", "aima-admin"} <= set(rabbitmq.users())  # others are left alone


def test_without_the_management_api_a_launch_fails_naming_the_setting(
        broker_settings, monkeypatch, tmp_path):
    broker_settings.AIMA_BROKER_ADMIN_URL = ""
    monkeypatch.setenv("AIMA_PROVIDERS", "subprocess")
    monkeypatch.setenv("AIMA_SUBPROCESS_STATE_DIR", str(tmp_path / "instances"))
    registry.reload_providers()
    assert offers.refresh_offers() == {}
    offer = registry.providers().get("subprocess").offers(Requirements())[0]
    instance = cloud_instance(state=InstanceState.REQUESTED)
    CloudInstance.objects.filter(pk=instance.pk).update(offer_id=offer.key)
    assert launching.launch(instance.pk) == "failed"
    instance.refresh_from_db()
    assert instance.state == InstanceState.FAILED
    assert "AIMA_BROKER_ADMIN_URL" in instance.error
    assert instance.attempts == 1  # no other offer would have done better
    # Nothing was started with any broker URL.
    assert registry.providers().get("subprocess").list_instances({}) == []


def test_an_unreachable_management_api_is_retried(broker_settings, instance):
    broker_settings.AIMA_BROKER_ADMIN_URL = "http://admin:pw@127.0.0.1:9/"
    with pytest.raises(broker_accounts.BrokerUnavailable) as refused:
        launching.launch_spec(instance, "enrollment-secret")
    assert refused.value.retryable


def test_the_reconciler_reports_on_while_the_management_api_is_down(broker_settings, instance):
    broker_settings.AIMA_BROKER_ADMIN_URL = "http://admin:pw@127.0.0.1:9/"
    report = reconcile.reconcile()
    assert report["broker_users_removed"] == []


def test_the_embedded_broker_is_handed_on_as_before(settings, instance):
    settings.AIMA_BROKER_URL = "filesystem://localhost//"
    settings.AIMA_BROKER_ADMIN_URL = ""
    env = launching.launch_spec(instance, "enrollment-secret").env
    assert env["AIMA_BROKER_URL"] == "filesystem://localhost//"
    assert env["AIMA_VAR_DIR"] == str(settings.VAR_DIR)

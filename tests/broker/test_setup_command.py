"""``manage.py aima_setup`` (the compose file's setup service) on a RabbitMQ node
of the test's own: the keyring made once and kept after, and the local agents'
broker user made through the management API with read access to the local GPU
queues only, the same on every run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from amqp.exceptions import AccessRefused
from django.core.management import call_command
from kombu import Connection

from aima_tasks.kernel.routing import CONTROL_QUEUE, GPU_CLASSES, Scope, gpu_queue
from aima_web.instances.broker_accounts import LOCAL_AGENT_USER

pytestmark = pytest.mark.django_db
PASSWORD = "local-agents-secret"


@pytest.fixture(autouse=True)
def no_local_agents_user(rabbitmq):
    """The node outlives the test: the user a test made goes with it."""
    yield
    if LOCAL_AGENT_USER in {u["name"] for u in rabbitmq.api("GET", "users")}:
        rabbitmq.api("DELETE", f"users/{LOCAL_AGENT_USER}")


def setup(**kwargs) -> list[str]:
    out = io.StringIO()
    call_command("aima_setup", "--wait", "5", stdout=out, **kwargs)
    return out.getvalue().splitlines()


def test_setup_makes_the_keyring_once_and_the_local_agents_user(
        broker_settings, rabbitmq, vhost, tmp_path: Path, monkeypatch):
    broker_settings.AIMA_KEYRING = tmp_path / "keys" / "keyring.json"
    broker_settings.STATIC_ROOT = tmp_path / "static"
    monkeypatch.setenv("AIMA_LOCAL_AGENT_BROKER_PASSWORD", PASSWORD)

    first = setup()
    assert first[0] == "database: migrated"
    assert first[2].startswith("keyring: made ")
    ring = json.loads(broker_settings.AIMA_KEYRING.read_text())
    assert (broker_settings.STATIC_ROOT / "analyst").is_dir()
    assert first[3].startswith(f"broker: user {LOCAL_AGENT_USER} may read")
    assert rabbitmq.api("GET", f"permissions/{vhost}/{LOCAL_AGENT_USER}") == {
        "user": LOCAL_AGENT_USER, "vhost": vhost, "configure": "^$", "write": "^$",
        "read": r"^gpu\.local\.[0-9]+$"}

    again = setup()
    assert again[2] == f"keyring: kept the one at {broker_settings.AIMA_KEYRING}"
    assert json.loads(broker_settings.AIMA_KEYRING.read_text()) == ring

    # The user it made reads a local GPU queue and nothing of the control plane's.
    agent_url = rabbitmq.amqp_url(LOCAL_AGENT_USER, PASSWORD, vhost)
    with Connection(agent_url) as conn:
        conn.default_channel.queue_declare(gpu_queue(Scope.LOCAL, GPU_CLASSES[0]), passive=True)
        assert conn.channel().basic_get(gpu_queue(Scope.LOCAL, GPU_CLASSES[0])) is None
        with pytest.raises(AccessRefused):
            conn.channel().basic_get(CONTROL_QUEUE)
        with pytest.raises(AccessRefused):
            conn.channel().basic_get(gpu_queue(Scope.CLOUD, GPU_CLASSES[0]))


def test_without_the_password_no_user_is_made(broker_settings, rabbitmq, tmp_path, monkeypatch):
    broker_settings.AIMA_KEYRING = tmp_path / "keyring.json"
    broker_settings.STATIC_ROOT = tmp_path / "static"
    monkeypatch.delenv("AIMA_LOCAL_AGENT_BROKER_PASSWORD", raising=False)
    lines = setup()
    assert lines[3].startswith("broker: no local agents' user to make")
    assert LOCAL_AGENT_USER not in {u["name"] for u in rabbitmq.api("GET", "users")}

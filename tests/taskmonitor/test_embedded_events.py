"""Celery events on the embedded broker: a listener (Flower) hears them while it
lives, and once its process is gone they no longer pile up for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kombu import Connection, Exchange, Queue

from aima_tasks import broker
from aima_tasks.celery_config import make_app
from aima_web.celery import app as control_app

LISTENER = """
import sys
from kombu import Connection, Exchange, Queue
from aima_tasks import broker
url = broker.EMBEDDED_BROKER_URL
with Connection(url, transport=broker.transport(url),
                transport_options=broker.transport_options(url)) as conn:
    queue = Queue("celeryev.gone", Exchange("celeryev", type="topic"), routing_key="#",
                  auto_delete=True)
    queue(conn.default_channel).declare()
    print("bound", flush=True)
    sys.stdin.read()
"""


def embedded_connection() -> Connection:
    url = broker.EMBEDDED_BROKER_URL
    return Connection(url, transport=broker.transport(url),
                      transport_options=broker.transport_options(url))


def messages_for(folder: Path, queue: str) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(f".{queue}.msg")]


def send_event(app, hostname: str) -> None:
    with app.events.default_dispatcher(hostname=hostname) as dispatcher:
        dispatcher.send("worker-heartbeat", freq=2.0, active=0, processed=0)


def test_events_reach_a_live_listener_and_stop_for_a_dead_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMA_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("AIMA_BROKER_URL", raising=False)
    folder = tmp_path / "broker"
    app = make_app("events-test")
    control_app.set_current()  # make_app made the test's app the current one
    dead = subprocess.Popen([sys.executable, "-c", LISTENER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "AIMA_VAR_DIR": str(tmp_path)})
    assert dead.stdout.readline().strip() == "bound"
    with embedded_connection() as conn:
        live = Queue("celeryev.live", Exchange("celeryev", type="topic"), routing_key="#",
                     auto_delete=True)
        live(conn.default_channel).declare()

        send_event(app, "control@test")
        assert len(messages_for(folder, "celeryev.gone")) == 1
        os.kill(dead.pid, signal.SIGKILL)  # no chance to unbind
        dead.wait()

        send_event(app, "control@test")
        send_event(app, "control@test")
        assert messages_for(folder, "celeryev.gone") == []  # unbound, its message gone
        assert len(messages_for(folder, "celeryev.live")) == 3
        heard = conn.default_channel.basic_get("celeryev.live", no_ack=True)
        assert heard.payload["hostname"] == "control@test"

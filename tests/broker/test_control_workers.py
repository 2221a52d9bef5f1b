"""Two control workers on one host, each started by ``manage.py aima_worker``
under a ``--hostname`` of its own, both come up on RabbitMQ and answer a
remote-control ping (under one name they would share a pidbox queue, and the
second would die with RESOURCE_LOCKED)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from celery import Celery

from tests.rabbitmq_node import Node

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("control@%h", "control-2@%h")
START_S = 90


def start_worker(hostname: str, broker_url: str, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "AIMA_BROKER_URL": broker_url, "AIMA_VAR_DIR": str(folder)}
    env.pop("DATABASE_URL", None)  # the workers take no task here: the embedded database
    with (folder / f"{hostname.split('@')[0]}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "aima_worker", "--concurrency", "1",
             "--hostname", hostname], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)


def answering(broker_url: str, wanted: set[str], workers: list[subprocess.Popen],
              folder: Path) -> set[str]:
    """The node names that answer a ping, polled until all of ``wanted`` do."""
    app = Celery(broker=broker_url)
    deadline = time.monotonic() + START_S
    answered: set[str] = set()
    while answered != wanted and time.monotonic() < deadline:
        exited = [w.returncode for w in workers if w.poll() is not None]
        assert not exited, (exited, [log.read_text()[-2000:] for log in folder.glob("*.log")])
        answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
    return answered


def test_two_control_workers_on_one_host_under_names_of_their_own(
        rabbitmq: Node, vhost: str, tmp_path: Path):
    broker_url = rabbitmq.amqp_url(vhost=vhost)
    workers = [start_worker(name, broker_url, tmp_path) for name in NAMES]
    try:
        host = socket.gethostname()
        wanted = {name.replace("%h", host) for name in NAMES}
        assert answering(broker_url, wanted, workers, tmp_path) == wanted
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)

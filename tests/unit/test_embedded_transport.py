"""The embedded broker never hands a consumer a message still being written."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection, Exchange, Queue

from tests.embedded import broker_client

MESSAGES = 2000


def connection(folder: Path) -> Connection:
    return broker_client.connection(folder, polling_interval=0)


def test_a_consumer_polling_while_messages_are_written_gets_each_whole(tmp_path):
    (tmp_path / "control").mkdir()
    queue = Queue("race", Exchange("race", type="direct"), routing_key="race")
    received, errors = [], []
    done = threading.Event()

    def consume() -> None:
        with connection(tmp_path) as conn:
            inbox = conn.SimpleQueue(queue, no_ack=True)
            while len(received) < MESSAGES and not done.is_set():
                try:
                    received.append(inbox.get(timeout=0.05).payload["n"])
                except inbox.Empty:
                    continue
                except Exception as exc:  # what kombu's own writer let through
                    errors.append(exc)
                    return

    reader = threading.Thread(target=consume)
    reader.start()
    with connection(tmp_path) as conn:
        outbox = conn.SimpleQueue(queue)
        for n in range(MESSAGES):
            outbox.put({"n": n, "pad": "x" * 4096})
    reader.join(60)
    done.set()
    assert errors == [] and sorted(received) == list(range(MESSAGES))
    assert not list(tmp_path.glob("*.partial"))

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


def test_a_binding_known_to_the_process_is_still_written_to_a_new_folder(tmp_path):
    # kombu keeps one broker state per process: once a binding was declared on
    # one folder, declaring it on another used to write no table there, and
    # every message published to that folder went nowhere.
    queue = Queue("moved", Exchange("moved", type="direct"), routing_key="moved")
    for folder in (tmp_path / "first", tmp_path / "second"):
        (folder / "control").mkdir(parents=True)
        with connection(folder) as conn:
            channel = conn.SimpleQueue(queue, no_ack=True)
            channel.put({"n": folder.name})
            assert channel.get(timeout=5).payload == {"n": folder.name}

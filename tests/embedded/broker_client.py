"""A producer or consumer of the embedded broker in a process of its own, for
tests that need several of them on one folder:

    python -m tests.embedded.broker_client FOLDER put COUNT TAG
    python -m tests.embedded.broker_client FOLDER get OUT_FILE [--hold N]

``get`` acknowledges each message after appending its number to OUT_FILE, until
no message came for a second; ``--hold N`` takes N messages without
acknowledging them, reports them and waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kombu import Connection, Exchange, Queue

from aima_tasks import broker

QUEUE = Queue("shared", Exchange("shared", type="direct"), routing_key="shared")
IDLE_S = 1.0


def connection(folder: Path, polling_interval: float = 0.01) -> Connection:
    return Connection(broker.EMBEDDED_BROKER_URL, transport=broker.transport(
        broker.EMBEDDED_BROKER_URL), transport_options={
            "data_folder_in": str(folder), "data_folder_out": str(folder),
            "control_folder": str(folder / "control"), "store_processed": False,
            "polling_interval": polling_interval})


def put(folder: Path, count: int, tag: str) -> None:
    with connection(folder) as conn:
        outbox = conn.SimpleQueue(QUEUE)
        for n in range(count):
            outbox.put({"n": f"{tag}-{n}", "pad": "x" * 2048})


def get(folder: Path, out: Path, hold: int) -> None:
    with connection(folder) as conn, out.open("a") as record:
        inbox = conn.SimpleQueue(QUEUE)
        held = 0
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < IDLE_S or hold:
            try:
                message = inbox.get(timeout=0.05)
            except inbox.Empty:
                continue
            idle_since = time.monotonic()
            record.write(f"{message.payload['n']}\n")
            record.flush()
            if hold:
                held += 1
                if held == hold:
                    record.write("HELD\n")
                    record.flush()
                    time.sleep(3600)  # until killed, its messages unacknowledged
                continue
            message.ack()


def main(argv: list[str]) -> None:
    folder, command = Path(argv[0]), argv[1]
    if command == "put":
        put(folder, int(argv[2]), argv[3])
    else:
        hold = int(argv[argv.index("--hold") + 1]) if "--hold" in argv else 0
        get(folder, Path(argv[2]), hold)


if __name__ == "__main__":
    main(sys.argv[1:])

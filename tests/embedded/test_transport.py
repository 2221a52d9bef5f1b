"""The embedded broker with several real processes on one folder: every message
put is delivered, none twice while consumers live, none lost when a consumer is
killed holding messages it took, and a file that is not a whole message never
ends a consumer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from aima_tasks import embedded_transport
from aima_tasks.broker import PROJECT_ROOT
from tests.embedded import broker_client

PRODUCERS, CONSUMERS, EACH = 3, 3, 300


def client(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.embedded.broker_client", str(folder),
                             *args], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen, timeout_s: float = 120) -> None:
    _, errors = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, errors


def received(outs: list[Path]) -> Counter:
    return Counter(line for out in outs if out.exists()
                   for line in out.read_text().split() if line != "HELD")


def expected(tags: list[str]) -> Counter:
    return Counter(f"{tag}-{n}" for tag in tags for n in range(EACH))


def leftovers(folder: Path) -> list[str]:
    """Message files anywhere under the broker folder (none once all are acked)."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*.msg*")]


def test_consumers_and_producers_in_many_processes_deliver_each_message_once(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    outs = [tmp_path / f"got-{i}" for i in range(CONSUMERS)]
    consumers = [client(folder, "get", str(out)) for out in outs]
    tags = [f"p{i}" for i in range(PRODUCERS)]
    producers = [client(folder, "put", str(EACH), tag) for tag in tags]
    for process in producers + consumers:
        finished(process)
    got = received(outs)
    assert got == expected(tags), "lost or duplicated messages"
    assert all(out.exists() and out.read_text() for out in outs), "a consumer starved"
    assert leftovers(folder) == []


def test_messages_a_killed_consumer_held_go_to_the_next(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    finished(client(folder, "put", str(EACH), "p"))
    holder_out = tmp_path / "held"
    holder = client(folder, "get", str(holder_out), "--hold", "5")
    deadline = time.monotonic() + 60
    while "HELD" not in (holder_out.read_text() if holder_out.exists() else ""):
        assert time.monotonic() < deadline and holder.poll() is None, holder.stderr.read()
        time.sleep(0.05)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    held = received([holder_out])
    assert sum(held.values()) == 5
    assert len(leftovers(folder / embedded_transport.CLAIMS)) == 5  # taken, not acked

    out = tmp_path / "after"
    finished(client(folder, "get", str(out)))
    assert received([out]) == expected(["p"]), "the held messages were lost"
    assert leftovers(folder) == []


def test_a_file_that_is_not_a_whole_message_is_skipped_not_fatal(tmp_path, monkeypatch):
    folder = tmp_path / "broker"
    folder.mkdir()
    # As kombu's own writer leaves a message between creating and filling it.
    young = folder / f"{time.monotonic_ns() - 5_000_000:020d}_young.shared.msg"
    young.write_bytes(b"")
    old = folder / f"{0:020d}_old.shared.msg"
    old.write_bytes(b'{"body": "tru')
    past = time.time() - embedded_transport.UNREADABLE_AFTER_S - 5
    os.utime(old, (past, past))
    finished(client(folder, "put", "3", "p"))

    with broker_client.connection(folder) as conn:
        inbox = conn.SimpleQueue(broker_client.QUEUE)
        got = [inbox.get(timeout=5) for _ in range(3)]
        for message in got:
            message.ack()
        assert sorted(m.payload["n"] for m in got) == ["p-0", "p-1", "p-2"]
        assert young.exists() and young.read_bytes() == b""  # left for a later poll
        assert (folder / embedded_transport.CORRUPT / old.name).exists()  # set aside

        # Its writer finishes it: it is delivered like any other.
        with broker_client.connection(folder) as writer:
            writer.SimpleQueue(broker_client.QUEUE).put({"n": "late"})
        whole = next(p for p in folder.glob("*.shared.msg") if p != young)
        os.replace(whole, young)
        message = inbox.get(timeout=5)
        assert message.payload["n"] == "late"
        message.ack()
    assert leftovers(folder) == [f"{embedded_transport.CORRUPT}/{old.name}"]


def test_two_channels_of_one_process_do_not_take_each_others_messages(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    finished(client(folder, "put", "3", "p"))
    with broker_client.connection(folder) as first, broker_client.connection(folder) as second:
        held = first.SimpleQueue(broker_client.QUEUE).get(timeout=5)  # not acknowledged
        # The second channel's first poll looks for dead consumers' messages:
        # the first channel's lock is this process's own, and it lives.
        inbox = second.SimpleQueue(broker_client.QUEUE)
        others = [inbox.get(timeout=5) for _ in range(2)]
        with pytest.raises(inbox.Empty):
            inbox.get(timeout=0.5)
        assert sorted(m.payload["n"] for m in [held, *others]) == ["p-0", "p-1", "p-2"]
        for message in [held, *others]:
            message.ack()
    assert leftovers(folder) == []

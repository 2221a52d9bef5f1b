"""The faults the chaos suite injects into its own RabbitMQ node
(tests/rabbitmq_node.py); its PostgreSQL cluster is tests/postgres_cluster.py.
Never the machine's services."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests import rabbitmq_node

RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def rabbitmqctl(node: rabbitmq_node.Node, *args: str) -> None:
    done = subprocess.run([RABBITMQCTL, "-n", node.env["RABBITMQ_NODENAME"], *args],
                          env=node.env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}")


def group_pids(leader: int, command: str | None = None) -> list[int]:
    """The processes of ``leader``'s process group (those named ``command`` only)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name, fields = text[text.index("(") + 1:text.rindex(")")], text.rpartition(")")[2]
        if int(fields.split()[2]) == leader and command in (None, name):
            found.append(int(stat.parent.name))
    return found


def signal_group(leader: int, sig: int, command: str | None = None) -> None:
    """Signal ``leader``'s group, or only its processes named ``command``."""
    if command is None:
        os.killpg(leader, sig)
        return
    for pid in group_pids(leader, command):
        os.kill(pid, sig)


def hang_broker(node: rabbitmq_node.Node, hung: bool) -> None:
    """SIGSTOP (or SIGCONT) the node's Erlang VM: connections stay open, nothing answers."""
    signal_group(node.process.pid, signal.SIGSTOP if hung else signal.SIGCONT, "beam.smp")

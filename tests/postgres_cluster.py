"""A private PostgreSQL cluster for tests that stop or restart the database: its
own folder, port and socket, never the machine's service.

:func:`cluster` runs ``initdb`` and the server with ``pg_ctl`` from
/usr/lib/postgresql/*/bin in a temporary folder on a spare port, and removes it
after. PostgreSQL refuses to run as root: as root, every command runs as the
``postgres`` user, which owns the folder. The database fault tests
(tests/faults) and the chaos suite (tests/chaos) share it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests import rabbitmq_node

# Durability is not under test here: the faults are a server's stop and start, not a crash
# of the machine, so fsync only slows every scenario down.
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/pg_ctl: these tests run a "
                           "PostgreSQL cluster of their own; install postgresql (.ci/run does)")
    return Path(found[-1]).parent


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path
    # Run as root: every command as this user, which owns the folder.
    user: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str, timeout_s: float = 60) -> str:
        argv = [str(self.bin / program), *args]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}\n{self.log_tail()}")
        return done.stdout

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def ctl(self, action: str, *args: str) -> None:
        """pg_ctl; the server it starts logs to a file (a pipe would keep this waiting)."""
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                 "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 {FAST}",
                 *args, action)

    def start(self) -> None:
        self.ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("stop", "-m", mode)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection cut, down for a moment."""
        self.ctl("restart", "-m", "fast")

    def sql(self, statement: str) -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)

    def copy(self, template: str, name: str) -> str:
        """A new database ``name`` copied from ``template``; its URL."""
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A fresh cluster (trust authentication, superuser ``postgres``), removed after."""
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="aima-chaos-pg-"))
    if user:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            shutil.rmtree(folder)
            raise RuntimeError("run as root, the test cluster runs as the 'postgres' "
                               "user (initdb refuses root), and there is none") from None
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    running = Cluster(folder, rabbitmq_node.free_port(), pg_bin(), user)
    try:
        running.run("initdb", "-D", str(running.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync", timeout_s=120)
        running.start()
        yield running
    finally:
        if (running.data / "postmaster.pid").exists():
            running.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)

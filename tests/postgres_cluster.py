"""A private PostgreSQL cluster for tests that stop the database: its own folder,
port and socket, never the machine's service.

:func:`start` runs ``initdb`` and the server from /usr/lib/postgresql/*/bin as a
child process whose PID the test holds; :meth:`Cluster.stop_server` stops it
(fast shutdown, as ``pg_ctl stop -m fast``), :meth:`Cluster.start_server` starts
it again on the same port and data, and :meth:`Cluster.remove` ends it for good.
PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.rabbitmq_node import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def binaries() -> Path:
    """The newest installed server's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql: the fault tests "
                           "run a cluster of their own; install postgresql (.ci/run does)")
    return Path(found[-1]).parent


def run_as() -> str | None:
    """The user the server runs as: ``postgres`` when this process is root."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class Cluster:
    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start_server(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(binaries() / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            user=run_as(), start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self.process.returncode}: "
                                   f"{(self.folder / 'server.log').read_text()[-2000:]}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not come up within "
                                       f"{START_TIMEOUT_S:g} s") from None
                time.sleep(0.1)

    def stop_server(self) -> None:
        """Fast shutdown (SIGINT to the postmaster): sessions are ended at once."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)

    def remove(self) -> None:
        self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Cluster:
    """A new cluster (trust authentication, user ``postgres``), running, in a folder of
    its own under the system's temporary folder: pytest's are private to root."""
    folder = Path(tempfile.mkdtemp(prefix="aima-pg-"))
    user = run_as()
    if user is not None:
        # The server's user must own its folders; the socket lives in ``folder``.
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    done = subprocess.run([str(binaries() / "initdb"), "-D", str(folder / "data"), "-A", "trust",
                           "-U", "postgres", "--no-sync"], capture_output=True, text=True,
                          user=user, cwd=folder, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stdout}\n{done.stderr}")
    cluster = Cluster(folder, free_port())
    try:
        cluster.start_server()
    except BaseException:
        cluster.remove()
        raise
    return cluster

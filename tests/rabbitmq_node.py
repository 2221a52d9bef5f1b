"""A private RabbitMQ node for tests: its own name, ports, data and plugins.

Tests that need broker users, permissions or TLS must not touch a shared node
(another test run's messages, users and vhosts live there), so they start one
of their own with :func:`start`, as a child process whose PID they hold, and
stop it with :meth:`Node.stop`. The node has the management plugin (users and
permissions over HTTP, as the control plane makes them) and, when asked, an
AMQPS listener with the given certificate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
ADMIN_USER = "aima-test-admin"
ADMIN_PASSWORD = "aima-test-admin-secret"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class TlsFiles:
    """The server side of an AMQPS listener: PEM files."""

    ca: Path
    cert: Path
    key: Path


@dataclass
class Node:
    folder: Path
    amqp_port: int
    management_port: int
    amqps_port: int | None
    # The management API over HTTPS, with the AMQPS listener's certificate.
    management_tls_port: int | None
    process: subprocess.Popen
    # The server's environment: a restart comes back on the same ports, name and data.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def admin_url(self) -> str:
        """The management API, as ``AIMA_BROKER_ADMIN_URL`` names it."""
        return f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{self.management_port}/"

    def amqp_url(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD,
                 vhost: str = "/") -> str:
        return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:" \
               f"{self.amqp_port}/{quote(vhost, safe='')}"

    def api(self, method: str, path: str, body: dict | None = None) -> object:
        """Call the management API as the node's administrator."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.management_port}/api/{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": "Basic " + b64encode(
                f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def add_vhost(self, vhost: str) -> None:
        """A vhost the administrator has every permission on."""
        self.api("PUT", f"vhosts/{quote(vhost, safe='')}")
        self.api("PUT", f"permissions/{quote(vhost, safe='')}/{ADMIN_USER}",
                 {"configure": ".*", "write": ".*", "read": ".*"})

    def users(self) -> list[str]:
        return [user["name"] for user in self.api("GET", "users")]

    def kill(self) -> None:
        """SIGKILL the node, as a crash would, keeping its data for :meth:`restart`."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Start the node again (after :meth:`kill`) and wait until it answers."""
        self.process = launch(self.folder, self.env)
        wait_ready(self)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; the node's Erlang processes go with its group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)
        shutil.rmtree(self.folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(amqp_port: int, management_port: int, amqps_port: int | None,
           management_tls_port: int | None, tls: TlsFiles | None) -> str:
    lines = [f"listeners.tcp.default = 127.0.0.1:{amqp_port}",
             f"management.tcp.port = {management_port}",
             "management.tcp.ip = 127.0.0.1",
             # The first boot creates this administrator in place of guest.
             f"default_user = {ADMIN_USER}",
             f"default_pass = {ADMIN_PASSWORD}",
             "default_user_tags.administrator = true",
             "loopback_users = none",
             # A busy test machine's disk must not block publishers.
             "disk_free_limit.absolute = 1MB"]
    if tls is not None:
        lines += [f"listeners.ssl.default = 127.0.0.1:{amqps_port}",
                  f"ssl_options.cacertfile = {tls.ca}",
                  f"ssl_options.certfile = {tls.cert}",
                  f"ssl_options.keyfile = {tls.key}",
                  "ssl_options.verify = verify_none",
                  "ssl_options.fail_if_no_peer_cert = false",
                  f"management.ssl.port = {management_tls_port}",
                  "management.ssl.ip = 127.0.0.1",
                  f"management.ssl.cacertfile = {tls.ca}",
                  f"management.ssl.certfile = {tls.cert}",
                  f"management.ssl.keyfile = {tls.key}"]
    return "\n".join(lines) + "\n"


def start(folder: Path, tls: TlsFiles | None = None) -> Node:
    """Start a node in ``folder`` (its data, logs, cookie) and wait for it."""
    if not Path(RABBITMQ_SERVER).exists():
        raise RuntimeError(f"{RABBITMQ_SERVER} is missing: the broker tests run a RabbitMQ "
                           "node of their own; install rabbitmq-server (.ci/run does)")
    folder.mkdir(parents=True, exist_ok=True)
    amqp_port, management_port, dist_port = free_port(), free_port(), free_port()
    amqps_port, management_tls_port = (free_port(), free_port()) if tls else (None, None)
    (folder / "rabbitmq.conf").write_text(
        config(amqp_port, management_port, amqps_port, management_tls_port, tls))
    (folder / "enabled_plugins").write_text("[rabbitmq_management].\n")
    # An empty env file: the machine's /etc/rabbitmq/rabbitmq-env.conf names its own node.
    (folder / "rabbitmq-env.conf").write_text("")
    env = {**os.environ,
           "HOME": str(folder),  # the Erlang cookie
           "RABBITMQ_NODENAME": f"aima-test-{amqp_port}@localhost",
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
           "RABBITMQ_NODE_PORT": str(amqp_port),
           "RABBITMQ_DIST_PORT": str(dist_port),
           "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
           "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
           "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
           "RABBITMQ_LOG_BASE": str(folder / "log"),
           "RABBITMQ_LOGS": str(folder / "log" / "node.log"),
           "ERL_EPMD_ADDRESS": "127.0.0.1"}
    node = Node(folder, amqp_port, management_port, amqps_port, management_tls_port,
                launch(folder, env), env)
    try:
        wait_ready(node)
    except BaseException:
        node.stop()
        raise
    return node


def launch(folder: Path, env: dict[str, str]) -> subprocess.Popen:
    """The server in a process group of its own, logging to ``server.out``."""
    with (folder / "server.out").open("ab") as log:
        return subprocess.Popen([RABBITMQ_SERVER], env=env, cwd=folder, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_ready(node: Node) -> None:
    """Until the management API answers (it comes up after the AMQP listeners)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if node.process.poll() is not None:
            raise RuntimeError(f"RabbitMQ exited with {node.process.returncode}: "
                               f"{(node.folder / 'server.out').read_text()[-2000:]}")
        try:
            node.api("GET", "overview")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ did not come up within {START_TIMEOUT_S:g} s") \
                    from None
            time.sleep(0.25)

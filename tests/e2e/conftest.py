"""A whole AIMA on this machine for end-to-end tests: the web server, a
control worker and an agent, each a real process, on a database of their own
(on the configured server: PostgreSQL in CI) and the configured broker
(RabbitMQ in CI). The test process talks to them over HTTP only."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from django.conf import settings

from aima_tasks.app import app
from aima_tasks.broker import PROJECT_ROOT
from aima_web.core.api_client import ApiClient
from aima_web.core.processes import Supervisor, http_up, wait_for

SIMULATED_GPU = "E2E RTX (simulated):24"


@dataclass
class Stack:
    api: ApiClient
    supervisor: Supervisor
    base_url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database on the server the suite is configured for."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'e2e.sqlite3'}"
        return
    name = f"aima_e2e_{uuid.uuid4().hex[:10]}"
    server = {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432,
              "user": db.get("USER") or None, "password": db.get("PASSWORD") or None}
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    credentials = server["user"] or ""
    if server["password"]:
        credentials += f":{server['password']}"
    yield f"postgres://{credentials}@{server['host']}:{server['port']}/{name}"
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory) -> Iterator[Stack]:
    supervisor = Supervisor(log_dir=tmp_path_factory.mktemp("logs"))
    supervisor.env.update({
        "DATABASE_URL": database_url,
        "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        "DJANGO_SUPERUSER_PASSWORD": "e2e-password-1234",
    })
    env = {**supervisor.env}
    manage(env, "migrate", "--noinput")
    manage(env, "createsuperuser", "--noinput", "--username", "e2e", "--email", "e2e@example.org")
    token = manage(env, "drf_create_token", "e2e").split()[2]  # "Generated token KEY for …"
    enrollment = manage(env, "aima_enroll", "--label", "e2e")
    # Messages left by earlier runs or by the API tests would reach these workers.
    app.control.purge()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        supervisor.start_web(port)
        supervisor.start_control_worker()
        wait_for("the web server", http_up(f"{base_url}/api/schema/"), 60, supervisor)
        supervisor.start_agent(base_url, enrollment, SIMULATED_GPU, extra=("--heartbeat", "2"))
        api = ApiClient(base_url, token)
        wait_for("the agent's GPU", lambda: any(
            gpu["agent"] and gpu["agent"]["online"] for gpu in api.get("/api/v1/gpus/")["results"]),
            60, supervisor)
        yield Stack(api=api, supervisor=supervisor, base_url=base_url, env=env)
    except BaseException:
        for process in supervisor.processes:
            print(f"--- {process.name} ---\n{process.tail(60)}")
        raise
    finally:
        supervisor.stop_all()

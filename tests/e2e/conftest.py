"""A whole AIMA for end-to-end tests, each part a real process, on a database
of its own (on the configured server: PostgreSQL in CI) and the configured
broker (RabbitMQ in CI). The test process talks to it over HTTP only."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from aima_tasks import broker
from aima_web.celery import app
from devtools import stack as local_stack
from tests import rabbitmq_node

SIMULATED_GPU = "E2E RTX (simulated):24"


@contextmanager
def new_database(folder: Path) -> Iterator[str]:
    """A fresh, empty database on the server the suite is configured for,
    dropped afterwards; on SQLite, a file in ``folder``."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{folder / 'e2e.sqlite3'}"
        return
    name = f"aima_e2e_{uuid.uuid4().hex[:10]}"
    server = {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432,
              "user": db.get("USER") or None, "password": db.get("PASSWORD") or None}
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    credentials = server["user"] or ""
    if server["password"]:
        credentials += f":{server['password']}"
    try:
        yield f"postgres://{credentials}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(dbname=db["NAME"], autocommit=True, **server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def cloud_broker(tmp_path_factory) -> Iterator[rabbitmq_node.Node | None]:
    """On RabbitMQ (CI), a node of the cloud tests' own with the management API,
    where the control plane makes each instance its broker user; None on the
    embedded broker, which has no users."""
    if broker.is_embedded(broker.broker_url()):
        yield None
        return
    node = rabbitmq_node.start(tmp_path_factory.mktemp("rabbitmq") / "node")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A database for the tests of one module."""
    with new_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def own_database_url(tmp_path_factory) -> Iterator[str]:
    """A database for one test."""
    with new_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory) -> Iterator[local_stack.Stack]:
    env = {**os.environ, "DATABASE_URL": database_url,
           "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media"))}
    # Messages left by earlier runs or by the API tests would reach these workers.
    app.control.purge()
    running = local_stack.start(env, tmp_path_factory.mktemp("logs"), local_stack.free_port(),
                                SIMULATED_GPU, username="e2e", heartbeat_s=2)
    yield running
    running.stop()


@pytest.fixture
def start_stack(own_database_url: str, tmp_path: Path) -> Iterator[
        Callable[..., local_stack.Stack]]:
    """Start stacks on the test's own database, with the simulated GPUs given, the
    control worker's beat if asked, and any extra settings (environment
    variables); all stopped after the test."""
    started: list[local_stack.Stack] = []

    def start(gpus: str, username: str = "agent-e2e", beat: bool = False,
              **settings: str) -> local_stack.Stack:
        env = {**os.environ, "DATABASE_URL": own_database_url,
               "AIMA_VAR_DIR": str(tmp_path / "var"), "AIMA_MEDIA_ROOT": str(tmp_path / "media"),
               **settings}
        app.control.purge()  # nothing left by earlier tests may reach these workers
        running = local_stack.start(env, tmp_path / "logs", local_stack.free_port(), gpus,
                                    username=username, heartbeat_s=2, beat=beat)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()

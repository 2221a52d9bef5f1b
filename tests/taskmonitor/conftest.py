"""A whole AIMA with Flower, as the end-to-end tests start it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aima_web.celery import app
from devtools import stack as local_stack
from tests.e2e.conftest import new_database


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[local_stack.Stack]:
    with new_database(tmp_path_factory.mktemp("db")) as url:
        env = {**os.environ, "DATABASE_URL": url,
               "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media"))}
        app.control.purge()  # nothing left by earlier tests may reach these workers
        running = local_stack.start(env, tmp_path_factory.mktemp("logs"),
                                    local_stack.free_port(), "Flower RTX (simulated):24",
                                    username="flower", heartbeat_s=2)
        yield running
        running.stop()

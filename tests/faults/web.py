"""The control plane's web server as production runs it (gunicorn), on a PostgreSQL
cluster of the test's own, for tests that stop or hang what it depends on."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from devtools.processes import Supervisor, http_up, wait_for
from devtools.stack import free_port, manage
from tests import postgres_cluster


@dataclass
class Web:
    base_url: str
    username: str
    password: str
    token: str
    env: dict[str, str]
    cluster: postgres_cluster.Cluster

    def as_token(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def jobs(self) -> int:
        answer = requests.get(f"{self.base_url}/api/v1/jobs/", headers=self.as_token(),
                              timeout=30)
        answer.raise_for_status()
        return answer.json()["count"]


@contextmanager
def serving(folder: Path, **settings: str) -> Iterator[Web]:
    """gunicorn (one worker) on a fresh cluster, with an administrator and her API
    token; ``settings`` are environment variables on top of this process's."""
    with postgres_cluster.cluster() as cluster, _web(folder, cluster, settings) as web:
        yield web


@contextmanager
def _web(folder: Path, cluster: postgres_cluster.Cluster, settings: dict[str, str],
         ) -> Iterator[Web]:
    supervisor = None
    cluster.sql('CREATE DATABASE "aima"')
    try:
        env = {**os.environ, "DATABASE_URL": cluster.url("aima"),
               "AIMA_SECRET_KEY": "faults-test-" + "k" * 40,
               "AIMA_VAR_DIR": str(folder / "var"), "AIMA_MEDIA_ROOT": str(folder / "media"),
               **settings}
        manage(env, "migrate", "--noinput")
        password, token = manage(env, "aima_admin", "olga").split()
        port = free_port()
        supervisor = Supervisor(log_dir=folder / "logs", env=env)
        supervisor.start("web", [sys.executable, "-m", "gunicorn", "aima_web.wsgi",
                                 "--bind", f"127.0.0.1:{port}", "--workers", "1"])
        base_url = f"http://127.0.0.1:{port}"
        wait_for("the web server", http_up(f"{base_url}/api/schema/"), 60, supervisor)
        yield Web(base_url, "olga", password, token, env, cluster)
    finally:
        if supervisor is not None:
            supervisor.stop_all()

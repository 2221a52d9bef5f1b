"""What the cloud benchmarks share: a local stack (web, control worker with
its beat, one local agent too small for video) whose only cloud is the
`subprocess` provider, on a fresh database (``BENCH_DATABASE_URL``, else
SQLite) and the configured broker (the embedded one by default, RabbitMQ with
``AIMA_BROKER_URL``)."""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools import stack
from devtools.api_client import ApiClient


def start(work: Path, **settings: str) -> stack.Stack:
    port = stack.free_port()
    env = {**os.environ, "AIMA_VAR_DIR": str(work / "var"),
           "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{work}/bench.db"),
           "AIMA_PUBLIC_URL": f"http://127.0.0.1:{port}", "AIMA_PROVIDERS": "subprocess",
           "AIMA_SUBPROCESS_STATE_DIR": str(work / "instances"),
           "AIMA_SUBPROCESS_GPU": "Bench Cloud GPU:24",
           "AIMA_DEPLOYMENT_ID": f"bench-{uuid.uuid4().hex[:8]}",
           "AIMA_INSTANCE_TICK_S": "1", **settings}
    stack.manage(env, "migrate", "--noinput")
    stack.manage(env, "aima_offers", "refresh")
    return stack.start(env, work / "log", port, "Bench small GPU:8", "bench", beat=True)


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def wait_all_ended(api: ApiClient, count: int, timeout_s: float = 180) -> list[dict]:
    """The instances, once at least ``count`` exist and every one has ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = api.get("/api/v1/instances/")["results"]
        if len(rows) >= count and all(r["state"] in ("terminated", "failed") for r in rows):
            return rows
        time.sleep(0.2)
    raise SystemExit(f"instances still running after {timeout_s:g} s")

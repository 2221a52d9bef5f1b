"""What the cloud end-to-end tests share: a stack whose only cloud is the
`subprocess` provider, on a database and a var folder of its own."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from aima_tasks import broker
from aima_tasks.app import app
from aima_web.core import stack as local_stack
from aima_web.core.api_client import ApiClient
from providers.subprocess import SubprocessProvider

# Too small for video: a video job must go to the cloud.
LOCAL_GPU = "E2E small (simulated):8"
T = TypeVar("T")


def start(database_url: str, folder: Path, **settings: str) -> local_stack.Stack:
    port = local_stack.free_port()
    env = {**os.environ, "DATABASE_URL": database_url,
           # Its own beat schedule, broker folder (embedded) and media.
           "AIMA_VAR_DIR": str(folder / "var"), "AIMA_MEDIA_ROOT": str(folder / "media"),
           "AIMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "AIMA_PROVIDERS": "subprocess",
           "AIMA_SUBPROCESS_STATE_DIR": str(folder / "instances"),
           "AIMA_SUBPROCESS_BOOT_DELAY_S": "0.5",
           "AIMA_DEPLOYMENT_ID": f"e2e-{uuid.uuid4().hex[:8]}",
           "AIMA_INSTANCE_TICK_S": "1", "AIMA_RECONCILE_S": "5", **settings}
    # Messages left by earlier tests must not reach these workers (RabbitMQ).
    app.control.purge()
    local_stack.manage(env, "migrate", "--noinput")
    local_stack.manage(env, "aima_offers", "refresh")
    return local_stack.start(env, folder / "logs", port, LOCAL_GPU, username="cloud",
                             heartbeat_s=2, beat=True)


# The permissions deploy/README.md gives cloud agents' RabbitMQ user: anything
# but the local GPU queues, so that no cloud host can read confidential work.
CLOUD_AGENT_PERMISSION = r"^(?!gpu\.local\.).*"


@contextmanager
def cloud_agent_broker_user() -> Iterator[str | None]:
    """A RabbitMQ user with the cloud agents' permissions, as the deployment
    guide makes one, and its broker URL; None on the embedded broker."""
    url = broker.broker_url()
    if broker.is_embedded(url):
        yield None
        return
    user, password = f"aima-cloud-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rabbitmqctl("add_user", user, password)
    try:
        rabbitmqctl("set_permissions", "-p", "/", user, *[CLOUD_AGENT_PERMISSION] * 3)
        parts = urlsplit(url)
        yield urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:"
                                               f"{parts.port or 5672}"))
    finally:
        rabbitmqctl("delete_user", user)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def stop(running: local_stack.Stack, folder: Path) -> None:
    """Stop the stack, and end every instance it rented even if a test failed
    before the control plane could: nothing may outlive the test."""
    running.stop()
    provider = SubprocessProvider({"state_dir": str(folder / "instances")})
    for record in (folder / "instances").glob("sp-*.json"):
        provider.terminate(record.stem)


def wait_until(what: str, check: Callable[[], T | None], timeout_s: float = 90,
               every_s: float = 0.5) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)


def all_ended(api: ApiClient, timeout_s: float = 60) -> list[dict]:
    """Every instance the control plane rented, once all of them have ended."""
    def ended() -> list[dict] | None:
        rows = api.get("/api/v1/instances/")["results"]
        return rows if rows and all(i["state"] in ("terminated", "failed") for i in rows) \
            else None
    return wait_until("every instance to end", ended, timeout_s)


def records(instances: Path) -> list[dict]:
    """The subprocess provider's records of the hosts it started."""
    return [json.loads(p.read_text()) for p in sorted(instances.glob("sp-*.json"))]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split()[2] != "Z"

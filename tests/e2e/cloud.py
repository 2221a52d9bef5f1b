"""What the cloud end-to-end tests share: a stack whose only cloud is the
`subprocess` provider, on a database and a var folder of its own."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from devtools import stack as local_stack
from devtools.api_client import ApiClient
from providers.subprocess import SubprocessProvider
from tests import rabbitmq_node

# Too small for video: a video job must go to the cloud.
LOCAL_GPU = "E2E small (simulated):8"
T = TypeVar("T")


def start(database_url: str, folder: Path, broker_node: rabbitmq_node.Node | None,
          **settings: str) -> local_stack.Stack:
    """On RabbitMQ (``broker_node``), the stack gets a vhost of its own there and
    the management API, through which it makes each instance a broker user that
    may read only its class's cloud queue."""
    port = local_stack.free_port()
    env = {**os.environ, "DATABASE_URL": database_url,
           # Its own beat schedule, broker folder (embedded) and media.
           "AIMA_VAR_DIR": str(folder / "var"), "AIMA_MEDIA_ROOT": str(folder / "media"),
           "AIMA_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "AIMA_PROVIDERS": "subprocess",
           "AIMA_SUBPROCESS_STATE_DIR": str(folder / "instances"),
           "AIMA_SUBPROCESS_BOOT_DELAY_S": "0.5",
           "AIMA_DEPLOYMENT_ID": f"e2e-{uuid.uuid4().hex[:8]}",
           "AIMA_INSTANCE_TICK_S": "1", "AIMA_RECONCILE_S": "5",
           **broker_settings(broker_node), **settings}
    local_stack.manage(env, "migrate", "--noinput")
    local_stack.manage(env, "aima_offers", "refresh")
    return local_stack.start(env, folder / "logs", port, LOCAL_GPU, username="cloud",
                             heartbeat_s=2, beat=True)


def broker_settings(node: rabbitmq_node.Node | None) -> dict[str, str]:
    if node is None:
        return {}
    vhost = f"e2e-{uuid.uuid4().hex[:8]}"
    node.add_vhost(vhost)
    return {"AIMA_BROKER_URL": node.amqp_url(vhost=vhost),
            "AIMA_BROKER_ADMIN_URL": node.admin_url}


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

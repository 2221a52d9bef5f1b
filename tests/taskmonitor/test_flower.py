"""Flower in a running stack: it lists the control worker and the agent's GPU
worker (whose events the control plane relays) and a finished job's tasks; at
the web's /flower/ it admits operators only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from agents import samples
from aima_tasks.kernel.routing import TaskName
from aima_web.access.roles import Role
from devtools.stack import Stack, free_port

# Every test here is a database test: pytest-django runs those before the others,
# and one in this module without it would run apart, starting a second stack.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
T = TypeVar("T")


def flower_get(stack: Stack, path: str) -> dict:
    with urllib.request.urlopen(f"{stack.flower_url}{path}", timeout=10) as answer:
        return json.load(answer)


def eventually(what: str, look: Callable[[], T | None], timeout_s: float = 60) -> T:
    """Flower hears events as they come: poll until ``look`` finds what it wants."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = look()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"Flower never showed {what}")
        time.sleep(0.5)


def test_flower_lists_the_workers_and_a_finished_jobs_tasks(stack: Stack, tmp_path: Path):
    video = samples.write_video(tmp_path / "clip.mp4")
    job = stack.api.wait(stack.api.submit(video.path)["id"], timeout_s=120)
    assert job["state"] == "succeeded", job["error"]

    def both_workers() -> dict | None:
        alive = flower_get(stack, "/api/workers?status=1")
        control = [n for n, up in alive.items() if n.startswith("control@") and up]
        agents = [n for n, up in alive.items() if n.startswith("agent-") and up]
        return {"control": control, "agents": agents} if control and agents else None

    workers = eventually("the control worker and the agent's GPU worker", both_workers)
    assert workers["agents"] == [f"agent-{job['agent']['id']}-gpu{job['gpu']['id']}@"
                                 f"{job['agent']['name']}"]

    def job_tasks() -> dict | None:
        tasks = [t for t in flower_get(stack, "/api/tasks").values()
                 if job["id"] in (t.get("args") or "")]
        names = {t["name"]: t for t in tasks if t["state"] == "SUCCESS"}
        wanted = {TaskName.PROBE, TaskName.PLACE, TaskName.ANALYSE}
        return names if wanted <= names.keys() else None

    tasks = eventually("the job's probe, place and analyse tasks", job_tasks)
    assert tasks[TaskName.PROBE]["worker"] in workers["control"]
    analyse = tasks[TaskName.ANALYSE]
    assert analyse["worker"] == workers["agents"][0]
    # Ids and plain values only: the unit's ticket (a capability) stays out.
    assert "ticket" not in analyse["args"] and "'segment': 0" in analyse["args"]


def test_the_proxy_admits_operators_only(stack: Stack, client, make_user, settings):
    settings.AIMA_FLOWER_URL = stack.flower_url.removesuffix("/flower")
    assert client.get("/flower/api/workers?status=1")["Location"] == (
        "/login/?next=/flower/api/workers%3Fstatus%3D1")

    client.force_login(make_user("ann", staff=True, role=Role.ANALYST))
    assert client.get("/flower/api/workers?status=1").status_code == 403

    client.force_login(make_user("olga", staff=True, role=Role.OPERATOR))
    answer = client.get("/flower/api/workers?status=1")
    assert answer.status_code == 200, answer
    assert any(name.startswith("control@") for name in json.loads(answer.getvalue()))
    page = client.get("/flower/")
    assert page.status_code == 200
    # Flower's own inline script (its auto-refresh switch) runs under the site's CSP
    # by its hash, and nothing else inline does.
    scripts = re.findall(rb"<script[^>]*>(.*?)</script>", page.content, re.DOTALL)
    inline = [script for script in scripts if script.strip()]
    assert inline, "Flower's workers page has no inline script any more"
    policy = page["Content-Security-Policy"]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert client.post("/flower/api/task/revoke/x").status_code == 405

    settings.AIMA_FLOWER_URL = f"http://127.0.0.1:{free_port()}"
    assert client.get("/flower/api/workers").status_code == 503

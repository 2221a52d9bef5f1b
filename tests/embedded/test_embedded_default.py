"""The embedded default under use: no RabbitMQ, no database server (the
filesystem broker and SQLite), web + control worker + agent as real processes
under the demo's supervisor. A hundred light jobs in bursts all succeed with no
process down; processes killed mid-work come back and their work still ends."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import samples
from aima_tasks import embedded_transport
from devtools import burst
from devtools import stack as local_stack
from devtools.processes import Process, RestartPolicy, http_up, wait_for

pytestmark = pytest.mark.e2e

JOBS, BURST, PAUSE_S = 100, 20, 0.5


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[local_stack.Stack, list[str]]]:
    work = tmp_path_factory.mktemp("embedded")
    env = local_stack.embedded_env(os.environ, work / "var")
    running = local_stack.start(env, work / "logs", local_stack.free_port(),
                                "Embedded GPU (simulated):24", username="embedded",
                                heartbeat_s=2, beat=True)
    restarts: list[str] = []
    running.supervisor.log = restarts.append
    running.supervisor.policy = RestartPolicy(backoff_s=0.5, max_restarts=3, window_s=120)
    running.supervisor.watch(every_s=0.2)
    yield running, restarts
    running.stop()


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    return samples.write_image(tmp_path_factory.mktemp("media") / "photo.jpg").path


def broker_leftovers(running: local_stack.Stack) -> list[Path]:
    folder = Path(running.supervisor.env["AIMA_VAR_DIR"]) / "broker"
    return [p for p in folder.rglob("*.msg*")
            if embedded_transport.CORRUPT not in p.parts]


def test_a_hundred_light_jobs_in_bursts_all_succeed_with_no_process_down(embedded, picture):
    running, restarts = embedded
    outcome = burst.run(running.api, picture, JOBS, BURST, PAUSE_S, timeout_s=150,
                        supervisor=running.supervisor)
    assert (outcome.succeeded, outcome.failed, outcome.stuck) == (JOBS, 0, 0), outcome.errors
    assert restarts == []
    assert all(p.alive() for p in running.supervisor.processes)
    # Every message taken and acknowledged (beat's own ticks come and go quickly).
    wait_for("an empty broker folder", lambda: not broker_leftovers(running), 10)


def kill(process: Process) -> int:
    pid = process.popen.pid
    os.killpg(pid, signal.SIGKILL)
    return pid


def test_processes_killed_mid_work_come_back_and_the_jobs_still_succeed(embedded, picture):
    running, restarts = embedded
    by_name = {p.name: p for p in running.supervisor.processes}
    ids = [running.api.submit(picture, analyses=list(burst.LIGHT_ANALYSES))["id"]
           for _ in range(10)]
    # While these are on their way: the control worker and the agent die at
    # once, holding whatever messages they took.
    old = {name: kill(by_name[name]) for name in ("control-worker", "agent")}
    wait_for("both restarted", lambda: all(
        by_name[name].alive() and by_name[name].popen.pid != pid for name, pid in old.items()),
        30)
    assert sorted(line.split()[1] for line in restarts) == ["agent", "control-worker"]
    assert all("exited with code -9; restarting in 0.5 s" in line for line in restarts)

    web = by_name["web"]
    old_web = kill(web)
    wait_for("the web server back", lambda: web.popen.pid != old_web and http_up(
        f"{running.base_url}/api/schema/")(), 60)
    ids += [running.api.submit(picture, analyses=list(burst.LIGHT_ANALYSES))["id"]
            for _ in range(5)]
    states = burst.wait(running.api, set(ids), time.monotonic() + 150, running.supervisor)
    assert {i: states[i]["state"] for i in ids} == dict.fromkeys(ids, "succeeded"), [
        states[i]["error"] for i in ids if states[i]["state"] != "succeeded"]
    assert all(p.alive() for p in running.supervisor.processes)
    assert running.supervisor.failure is None

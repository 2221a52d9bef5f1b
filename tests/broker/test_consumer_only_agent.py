"""An agent's Celery worker runs with a broker user that may only read its
queue: it declares nothing and publishes nothing (no events, heartbeats,
remote control, mingle or gossip), takes a task the control plane sent,
acknowledges it and stops cleanly. The control plane's own app, in its place,
is refused by the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection

from aima_tasks.broker import PROJECT_ROOT
from aima_tasks.kernel import routing
from aima_web.instances import broker_accounts
from tests.broker.test_cloud_broker_user import cloud_instance

pytestmark = pytest.mark.django_db

WORKER_TIMEOUT_S = 60


def send_as_control_plane(broker_url: str, queue: str, work: dict) -> None:
    """Publish the way the control plane does: its Celery app, in its own process."""
    subprocess.run([sys.executable, "-c", (
        "import sys, json; from aima_tasks.celery_config import make_app; "
        "make_app('aima-control').send_task('aima.analyse', args=[json.loads(sys.argv[1])], "
        "queue=sys.argv[2])"), __import__("json").dumps(work), queue],
        env={**os.environ, "AIMA_BROKER_URL": broker_url}, cwd=PROJECT_ROOT, check=True,
        timeout=60)


def start_worker(broker_url: str, done: Path, log: Path, app: str = "agent",
                 queue: str = "gpu.cloud.24") -> subprocess.Popen:
    # No --without-* flags: the agents' app must not publish whatever the command line says.
    env = {**os.environ, "AIMA_BROKER_URL": broker_url, "AIMA_TEST_DONE_FILE": str(done),
           "AIMA_TEST_APP": app, "AIMA_VAR_DIR": str(done.parent)}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.broker.agent_app", "worker",
         "--queues", queue, "--concurrency", "1", "--hostname", "agent-test@host",
         "--loglevel", "INFO"], env=env, cwd=PROJECT_ROOT, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True)


def stop(worker: subprocess.Popen) -> int:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            return worker.wait(WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            raise
    return worker.returncode


def wait_for(check, timeout_s: float = WORKER_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def agent_broker_url(broker_settings) -> str:
    return broker_accounts.mint(cloud_instance().pk, 24)


def test_a_read_only_agent_takes_acknowledges_and_stops(broker_settings, agent_broker_url,
                                                        tmp_path):
    done, log = tmp_path / "done.json", tmp_path / "worker.log"
    send_as_control_plane(broker_settings.AIMA_BROKER_URL, "gpu.cloud.24", {"job_id": "j-1"})
    worker = start_worker(agent_broker_url, done, log)
    try:
        assert wait_for(done.exists), log.read_text()
        assert '"job_id": "j-1"' in done.read_text()
        # The task is over once it is acknowledged; stopping must not hand it back.
        assert wait_for(lambda: "succeeded" in log.read_text()), log.read_text()
    finally:
        code = stop(worker)
    output = log.read_text()
    assert code == 0, output
    for trouble in ("ACCESS_REFUSED", "Traceback", "ERROR"):
        assert trouble not in output, output
    with Connection(broker_settings.AIMA_BROKER_URL) as conn:
        assert conn.default_channel.basic_get(queue="gpu.cloud.24") is None  # acknowledged


def test_the_control_planes_app_in_an_agent_is_refused(broker_settings, agent_broker_url,
                                                       tmp_path):
    """What the consumer-only app is for: the control plane's app declares its
    queues and broadcasts, and the agent's user may not."""
    done, log = tmp_path / "done.json", tmp_path / "worker.log"
    send_as_control_plane(broker_settings.AIMA_BROKER_URL, "gpu.cloud.24", {"job_id": "j-2"})
    worker = start_worker(agent_broker_url, done, log, app="control")
    try:
        assert wait_for(lambda: "ACCESS_REFUSED" in log.read_text()), log.read_text()
    finally:
        stop(worker)
    assert not done.exists()


def test_the_control_worker_declares_every_queue_when_it_starts(rabbitmq, tmp_path):
    """Agents may not declare their queues: the control plane's worker has
    them all in place before any work is sent."""
    bare = "aima-bare"
    rabbitmq.add_vhost(bare)
    log = tmp_path / "control.log"
    try:
        worker = start_worker(rabbitmq.amqp_url(vhost=bare), tmp_path / "unused", log,
                              app="control", queue="control")
        try:
            assert wait_for(lambda: "ready." in log.read_text()), log.read_text()
        finally:
            assert stop(worker) == 0, log.read_text()
        declared = {queue["name"] for queue in rabbitmq.api("GET", f"queues/{bare}")}
    finally:
        rabbitmq.api("DELETE", f"vhosts/{bare}")
    assert set(routing.all_queues()) <= declared

"""A hung broker (its RabbitMQ node SIGSTOPped: connections stay open, nothing is
answered) costs a publish AIMA_PUBLISH_TIMEOUT_S at most: a job submission is a 503
with Retry-After within 5 s that stores nothing, a control step's send fails as
quickly, and both work again once the broker does."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from kombu.exceptions import OperationalError

from agents import samples
from aima_tasks import broker, topology
from aima_tasks.celery_config import configured
from aima_tasks.kernel.routing import CONTROL_QUEUE, TaskName
from aima_web.celery import app as control_app
from tests import rabbitmq_node
from tests.faults.web import Web, serving

pytestmark = pytest.mark.e2e

# What issue 14 allows a POST during a hung broker.
BOUND_S = 5.0


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[rabbitmq_node.Node]:
    started = rabbitmq_node.start(tmp_path_factory.mktemp("rabbitmq") / "node")
    yield started
    started.stop()


@contextmanager
def hung(node: rabbitmq_node.Node) -> Iterator[None]:
    """The node stopped in its tracks (every process of its group), then resumed."""
    os.killpg(node.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(node.process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def web(node, tmp_path_factory) -> Iterator[Web]:
    with serving(tmp_path_factory.mktemp("web"), AIMA_BROKER_URL=node.amqp_url(),
                 AIMA_PUBLISH_TIMEOUT_S="3") as running:
        yield running


def submit(web: Web, image: Path) -> tuple[requests.Response, float]:
    started = time.monotonic()
    with image.open("rb") as media:
        answer = requests.post(f"{web.base_url}/api/v1/jobs/", headers=web.as_token(),
                               files={"media": ("photo.jpg", media)},
                               data={"analyses": "phash", "confidentiality": "internal"},
                               timeout=60)
    return answer, time.monotonic() - started


def test_a_submission_during_a_hung_broker_is_a_quick_503_that_stores_nothing(
        web: Web, node, tmp_path: Path):
    image = samples.write_image(tmp_path / "photo.jpg").path
    first, _ = submit(web, image)  # the web's pooled connection is open before the hang
    assert first.status_code == 201, first.text
    jobs = web.jobs()

    with hung(node):
        answers = [submit(web, image) for _ in range(3)]
        # Read while the broker still hangs: no job row is left of a refused submission.
        assert web.jobs() == jobs

    for answer, took_s in answers:
        assert answer.status_code == 503, answer.text
        assert took_s <= BOUND_S, took_s
        assert int(answer.headers["Retry-After"]) > 0
        assert "broker" in answer.json()["detail"]
    again, _ = submit(web, image)
    assert again.status_code == 201, again.text
    assert web.jobs() == jobs + 1


def test_a_control_step_sending_during_a_hung_broker_fails_within_the_timeout(
        node, monkeypatch):
    monkeypatch.setenv("AIMA_PUBLISH_TIMEOUT_S", "1.5")
    # An app configured as the control worker's is, on the node: its sends are a control
    # step's (a probe's next step, place's units, a provision request).
    app = configured("faults-control", node.amqp_url(), topology.declared_queues(),
                     remote_control=False)
    assert broker.publish_timeout_s() == 1.5
    try:
        app.send_task(TaskName.PROVISION.value, queue=CONTROL_QUEUE)
        with hung(node):
            started = time.monotonic()
            with pytest.raises(OperationalError):
                app.send_task(TaskName.PROVISION.value, queue=CONTROL_QUEUE)
            assert time.monotonic() - started <= 1.5 + 1.0
        # The broker is back: the next send goes through on a new connection.
        app.send_task(TaskName.PROVISION.value, queue=CONTROL_QUEUE)
    finally:
        app.close()
        control_app.set_current()  # configured() made the test's app the current one


def test_the_publish_timeout_is_a_positive_number(monkeypatch):
    monkeypatch.setenv("AIMA_PUBLISH_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="AIMA_PUBLISH_TIMEOUT_S='soon'"):
        broker.publish_timeout_s()
    monkeypatch.setenv("AIMA_PUBLISH_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="above 0"):
        broker.publish_timeout_s()

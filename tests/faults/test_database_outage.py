"""A real database outage: gunicorn serving from a PostgreSQL cluster of the test's
own, which the test stops and starts again. Every request that needs the database
(token, agent, enrollment and session authentication, the admin and its login, a
job submission) is a 503 with Retry-After while it is down, never a 500, and all
of them work again once it is back. An agent outlives it: it waits to register as
long as the 503s say, and its heartbeats reach the control plane again after it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from agents.control_plane import MAX_RETRY_AFTER_S
from devtools.processes import Supervisor, wait_for
from devtools.stack import manage
from tests.agent_api import GPU
from tests.faults.web import Web, serving

pytestmark = pytest.mark.e2e

Probe = Callable[[], requests.Response]


@dataclass
class Served:
    web: Web
    agent: str
    enrollment: str
    admin: requests.Session


def admin_session(base_url: str, username: str, password: str) -> requests.Session:
    """Logged in to the admin, as a person is: its session cookie in hand."""
    session = requests.Session()
    session.get(f"{base_url}/admin/login/", timeout=10)
    answer = session.post(f"{base_url}/admin/login/?next=/admin/", timeout=10, data={
        "username": username, "password": password, "next": "/admin/",
        "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base_url}/admin/login/"})
    assert answer.url.endswith("/admin/") and "sessionid" in session.cookies, answer.text
    return session


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    # The embedded broker, in the test's folder: an agent's worker takes nobody's work.
    with serving(tmp_path_factory.mktemp("outage"), AIMA_BROKER_URL="") as web:
        enrollment = manage(web.env, "aima_enroll", "--label", "outage", "--uses", "5")
        agent = requests.post(f"{web.base_url}/api/v1/agents/register/", timeout=10,
                              json={"name": "outage-host", "gpus": [GPU]},
                              headers={"Authorization": f"Bearer {enrollment}"})
        assert agent.status_code == 201, agent.text
        yield Served(web, agent.json()["credential"], enrollment,
                     admin_session(web.base_url, web.username, web.password))


def probes(served: Served) -> dict[str, Probe]:
    """A request of each kind that needs the database."""
    url = served.web.base_url
    token = served.web.as_token()
    anonymous = requests.Session()
    anonymous.get(f"{url}/admin/login/", timeout=10)
    return {
        "token: list jobs": lambda: requests.get(f"{url}/api/v1/jobs/", headers=token,
                                                 timeout=10),
        "token: submit a job": lambda: requests.post(
            f"{url}/api/v1/jobs/", headers=token, timeout=10,
            files={"media": ("photo.jpg", b"\xff\xd8\xff\xe0 not really")},
            data={"analyses": "phash", "confidentiality": "internal"}),
        "unknown token": lambda: requests.get(f"{url}/api/v1/jobs/", timeout=10,
                                              headers={"Authorization": "Token wrong"}),
        "agent: heartbeat": lambda: requests.post(
            f"{url}/api/v1/agents/heartbeat/", json={"gpus": []}, timeout=10,
            headers={"Authorization": f"Agent {served.agent}"}),
        "enrollment: register": lambda: requests.post(
            f"{url}/api/v1/agents/register/", json={"name": "late", "gpus": [GPU]},
            headers={"Authorization": f"Bearer {served.enrollment}"}, timeout=10),
        "session: API": lambda: served.admin.get(f"{url}/api/v1/jobs/", timeout=10),
        "session: admin": lambda: served.admin.get(f"{url}/admin/", timeout=10),
        "session: admin list": lambda: served.admin.get(f"{url}/admin/jobs/job/", timeout=10),
        "admin login": lambda: anonymous.post(
            f"{url}/admin/login/", timeout=10, allow_redirects=False,
            data={"username": "olga", "password": "wrong",
                  "csrfmiddlewaretoken": anonymous.cookies["csrftoken"]},
            headers={"Referer": f"{url}/admin/login/"}),
    }


def test_every_request_during_an_outage_is_503_with_retry_after(served: Served):
    checks = probes(served)
    for name, probe in checks.items():
        assert probe().status_code < 500, name

    served.web.cluster.stop()
    try:
        answers = {name: probe() for name, probe in checks.items()}
    finally:
        served.web.cluster.start()

    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.status_code, answer.text[:300])
        assert int(answer.headers["Retry-After"]) > 0, name
        assert "the database is unavailable" in answer.text, name
        api = "/api/" in answer.url
        assert answer.headers["Content-Type"].startswith(
            "application/json" if api else "text/plain"), name
    # Back: the same requests are served again, from fresh connections.
    for name, probe in checks.items():
        assert probe().status_code < 500, name


def test_the_health_check_says_whether_the_database_answers(served: Served):
    # Probes ask by address, not by a name of AIMA_ALLOWED_HOSTS, and over plain HTTP.
    health = f"{served.web.base_url}/healthz"
    probe = {"headers": {"Host": "10.1.2.3:8000"}, "timeout": 10}
    answer = requests.get(health, **probe)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    served.web.cluster.stop()
    try:
        down = requests.get(health, **probe)
    finally:
        served.web.cluster.start()
    assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
    assert down.json()["detail"] == "the database is unavailable"
    assert requests.get(health, **probe).status_code == 200
    # Anything else at that path goes through the whole stack: the host is refused.
    assert requests.post(health, **probe).status_code == 400


def agent_heard_since(web: Web, name: str, moment: datetime) -> bool:
    answer = requests.get(f"{web.base_url}/api/v1/gpus/", headers=web.as_token(), timeout=10)
    if answer.status_code != 200:
        return False
    return any(gpu["agent"] and gpu["agent"]["name"] == name and gpu["agent"]["online"]
               and datetime.fromisoformat(gpu["agent"]["last_heartbeat"]) > moment
               for gpu in answer.json()["results"])


def test_an_agent_registers_and_beats_through_an_outage(served: Served, tmp_path: Path):
    web = served.web
    supervisor = Supervisor(log_dir=tmp_path / "logs", env=web.env)
    try:
        web.cluster.stop()
        agent = supervisor.start_agent(
            web.base_url, served.enrollment, "Outage RTX (simulated):24",
            extra=("--name", "late-host", "--heartbeat", "1", "--workdir", str(tmp_path)))
        wait_for("the agent to meet a 503", lambda: "unavailable" in agent.tail(), 30,
                 supervisor)
        time.sleep(2)
        supervisor.check_alive()  # waiting to register, not given up
        web.cluster.start()
        wait_for("the agent registered and online", lambda: agent_heard_since(
            web, "late-host", datetime.min.replace(tzinfo=UTC)), 60, supervisor)

        web.cluster.stop()
        time.sleep(4)  # heartbeats every second meet 503s
        web.cluster.start()
        back = datetime.now(UTC)
        wait_for("a heartbeat after the outage",
                 lambda: agent_heard_since(web, "late-host", back), MAX_RETRY_AFTER_S,
                 supervisor)
        supervisor.check_alive()
        assert "heartbeat failed" in agent.tail(200)
    finally:
        supervisor.stop_all()

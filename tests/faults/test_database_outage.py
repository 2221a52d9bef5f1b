"""A real database outage: gunicorn serving from a PostgreSQL cluster of the test's
own, which the test stops and starts again. Every request that needs the database
(token, agent, enrollment and session authentication, the admin and its login, a
job submission) is a 503 with Retry-After while it is down, never a 500, and all
of them work again once it is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

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
    with serving(tmp_path_factory.mktemp("outage")) as web:
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

    served.web.cluster.stop_server()
    try:
        answers = {name: probe() for name, probe in checks.items()}
    finally:
        served.web.cluster.start_server()

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

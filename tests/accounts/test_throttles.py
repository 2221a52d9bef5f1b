"""API rate limits answer 429 with Retry-After; the rates live in settings."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from devtools.api_client import ApiClient
from tests.agent_api import GPU, as_agent, enroll
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "anon": "2/minute", "user": "3/minute", "agent": "3/minute"}}


def test_a_user_past_the_rate_gets_429_with_retry_after(low_rates, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    api = client_for(root)
    assert [api.get("/api/v1/jobs/").status_code for _ in range(3)] == [200] * 3
    throttled = api.get("/api/v1/jobs/")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    # Counted per user: another user is not held back.
    other = django_user_model.objects.create_superuser("ops", "ops@example.org", "pw")
    assert client_for(other).get("/api/v1/jobs/").status_code == 200


def test_anonymous_callers_are_counted_per_address(low_rates, client):
    codes = [client.get("/api/schema/", REMOTE_ADDR="10.1.1.1").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get("/api/schema/", REMOTE_ADDR="10.1.1.2").status_code == 200


def test_a_token_holder_is_throttled_as_its_user(low_rates, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    secrets = [tokens.issue(ApiToken(user=root, name=f"t{n}"), "test") for n in range(2)]
    codes = []
    for n in range(4):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {secrets[n % 2]}")
        codes.append(client.get("/api/v1/jobs/").status_code)
    assert codes == [200, 200, 200, 429]


def test_the_stack_client_waits_out_a_429():
    answers = [(429, b'{"detail": "throttled"}'), (200, b'{"ok": true}')]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.pop(0)
            self.send_response(status)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            client = ApiClient(f"http://127.0.0.1:{server.server_port}", "secret")
            assert client.get("/api/v1/jobs/") == {"ok": True}
        finally:
            server.shutdown()
    assert answers == []


def test_agents_are_counted_per_agent_not_per_address(low_rates):
    first = enroll(name="host-1", gpus=[{**GPU, "uuid": "GPU-A"}]).json()["credential"]
    second = enroll(name="host-2", gpus=[{**GPU, "uuid": "GPU-B"}]).json()["credential"]
    beat = "/api/v1/agents/heartbeat/"
    # Above the anonymous rate (2), though agents carry no user: their own rate (3).
    codes = [as_agent(first).post(beat).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert as_agent(second).post(beat).status_code == 200

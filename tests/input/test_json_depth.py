"""JSON bodies nested deeper than any payload needs are a 400 that says why, on every
JSON endpoint, however deep (json itself gives up near 1000 levels)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aima_tasks.kernel.routing import Scope
from aima_web.core.parsers import MAX_DEPTH
from aima_web.fleet.services import create_enrollment_token
from tests.agent_api import as_agent, enroll

pytestmark = pytest.mark.django_db

TOO_DEEP = f"JSON parse error - the body nests lists or objects more than {MAX_DEPTH} deep"


def nested(depth: int) -> str:
    return '{"gpus": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def enrollment_client() -> APIClient:
    _, secret = create_enrollment_token("test", scope=Scope.LOCAL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def clients(api) -> dict[str, APIClient]:
    return {"/api/v1/placement/explain/": api,
            "/api/v1/agents/register/": enrollment_client(),
            "/api/v1/agents/heartbeat/": as_agent(enroll().json()["credential"])}


@pytest.mark.parametrize("path", ["/api/v1/placement/explain/", "/api/v1/agents/register/",
                                  "/api/v1/agents/heartbeat/"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 100_000])
def test_deeply_nested_json_is_a_400(clients, path, depth):
    response = clients[path].post(path, nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": TOO_DEEP}


def test_nesting_within_the_bound_reaches_validation(clients):
    path = "/api/v1/agents/heartbeat/"
    response = clients[path].post(path, nested(MAX_DEPTH), content_type="application/json")
    assert response.status_code == 400
    assert "gpus" in response.json()  # the serializer's answer, not the parser's

"""Property-based fuzzing of the whole API against its own OpenAPI schema (/api/schema/).

Schemathesis generates requests, valid and invalid, for every operation of the real
application (in-process, through WSGI) with a fixed seed and EXAMPLES generated
examples per operation (plus the schema's own examples and its coverage cases). Every
answer must be no 5xx, with a status, content type and body the schema declares. People's
endpoints are called as an operator, agents' endpoints with an agent's credential.
Every other request's ids are swapped for those of a real job and GPU, so that the
operations reach past their 404s.

Not in the default run (marker ``fuzz``); CI runs it as a step of its own:
``python3 bootstrap.py test -m fuzz``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from aima_web.access.roles import Role
from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.fleet.models import LocalGPU
from aima_web.wsgi import application
from tests.agent_api import enroll
from tests.conftest import client_for

# At most four minutes, set-up included: the bound CI holds the run to.
pytestmark = [pytest.mark.fuzz, pytest.mark.django_db, pytest.mark.timeout(240)]

SEED = 20261202
EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance]
AGENT_PATHS = ("/api/v1/agents/", "/api/v1/agent-jobs/", "/api/v1/agent-models/")

calls: Counter[str] = Counter()
statuses: Counter[int] = Counter()


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests through the WSGI handler keep the test's database connection, as
    Django's test client does (which connects the signals again after each request:
    so this comes after any use of it): the test's transaction holds their data."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(make_user, image_file) -> dict[str, Any]:
    """An operator with a token, an enrolled agent with its GPU, and a submitted job."""
    operator = make_user("olga", role=Role.OPERATOR)
    secret = tokens.issue(ApiToken(user=operator, name="fuzz"), "fuzz")
    registered = enroll()
    assert registered.status_code == 201, registered.content
    with image_file.path.open("rb") as media:
        submitted = client_for(operator).post(
            "/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
            format="multipart")
    assert submitted.status_code == 201, submitted.content
    return {
        "people": {"Authorization": f"Token {secret}"},
        "agents": {"Authorization": f"Agent {registered.json()['credential']}"},
        "ids": {"/api/v1/jobs/": {"id": submitted.json()["id"]},
                "/api/v1/agent-jobs/": {"job_id": submitted.json()["id"]},
                "/api/v1/gpus/": {"id": LocalGPU.objects.get().id}},
    }


@pytest.fixture
def api_schema(world, in_process_requests, request):
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    loaded.config.seed = SEED
    started = time.monotonic()
    yield loaded
    summary = [
        f"schemathesis: {len(calls)} operations, {sum(calls.values())} requests (seed {SEED}, "
        f"{EXAMPLES} generated examples per operation plus the schema's examples and its "
        f"coverage cases) in {time.monotonic() - started:.0f} s",
        f"statuses: {dict(sorted(statuses.items()))}",
        *(f"{count:6d}  {label}" for label, count in sorted(calls.items()))]
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n" + "\n".join(summary))


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.serializer("application/offset+octet-stream")
def upload_chunk(ctx: Any, value: Any) -> bytes:
    """A resumable upload's chunk is the raw bytes of the body (aima_web/uploads/api.py)."""
    return value if isinstance(value, bytes) else str(value).encode()


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_schema_says_and_never_5xx(case, world):
    who = "agents" if case.operation.path.startswith(AGENT_PATHS) else "people"
    known = next((ids for prefix, ids in world["ids"].items()
                  if case.operation.path.startswith(prefix)), None)
    if case.path_parameters and known and calls[case.operation.label] % 2 == 0:
        case.path_parameters = {**case.path_parameters, **known}
    # The API's throttles would answer 429 to a fuzzer's pace and hide the rest.
    cache.clear()
    response = case.call_and_validate(headers=world[who], checks=CHECKS)
    calls[case.operation.label] += 1
    statuses[response.status_code] += 1

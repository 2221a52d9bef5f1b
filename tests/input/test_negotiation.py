"""Every API operation answers a browser (Accept: text/html) and OPTIONS without a 5xx,
people's operations for an operator and agents' for an agent, on real objects."""

from __future__ import annotations

import pytest

from aima_web.access.roles import Role
from aima_web.fleet.models import LocalGPU
from tests.agent_api import as_agent, enroll
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

AGENT_PATHS = ("/api/v1/agents/", "/api/v1/agent-jobs/", "/api/v1/agent-models/")


def test_every_operation_answers_html_and_options(make_user, image_file):
    operator = client_for(make_user("olga", role=Role.OPERATOR))
    agent = as_agent(enroll().json()["credential"])
    with image_file.path.open("rb") as media:
        job_id = operator.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                               format="multipart").json()["id"]
    ids = {"{id}": str(job_id), "{job_id}": str(job_id), "{sha256}": "0" * 64}
    paths = operator.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
                         ).json()["paths"]
    answered = []
    for template, operations in paths.items():
        path = template.replace("{id}", str(LocalGPU.objects.get().id)) \
            if template.startswith("/api/v1/gpus/") else template
        for placeholder, value in ids.items():
            path = path.replace(placeholder, value)
        client = agent if template.startswith(AGENT_PATHS) else operator
        for method in ("options", *(m for m in ("get",) if m in operations)):
            for accept in ("text/html", "application/json", "*/*"):
                response = getattr(client, method)(path, HTTP_ACCEPT=accept)
                answered.append((method, path, accept, response.status_code))
    assert [a for a in answered if a[3] >= 500] == []
    assert len(answered) >= 3 * len(paths)


def test_no_matching_url_is_a_json_404_under_the_api(api):
    response = api.get("/api/v1/jobs/not-a-uuid/report/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    page = api.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_schema_documents_the_error_answers(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"4XX", "503"} <= operation["responses"].keys(), (method, path)
    report = schema["paths"]["/api/v1/jobs/{id}/report/"]["get"]["responses"]
    assert set(report["4XX"]["content"]) == {"application/json", "text/html"}

"""What used to be a 500: a database or broker that cannot be reached (503, Retry-After),
the HTML report asked for with OPTIONS, and a GPU patched with a body that is no object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from kombu.exceptions import OperationalError as BrokerError
from kombu.messaging import Producer

from aima_web.core.error_pages import server_error
from aima_web.core.faults import RETRY_AFTER_S
from aima_web.fleet.models import LocalGPU
from aima_web.jobs.models import Job

pytestmark = pytest.mark.django_db


def unreachable_database(execute, sql, params, many, context):
    """Every query fails the way a database that went away fails (the driver's edge)."""
    raise OperationalError("could not connect to server: Connection refused")


@pytest.mark.parametrize("method, path", [("get", "/api/v1/jobs/"), ("get", "/api/v1/gpus/"),
                                          ("post", "/api/v1/placement/explain/")])
def test_a_database_fault_is_a_503_with_retry_after(api, method, path):
    with connection.execute_wrapper(unreachable_database):
        response = getattr(api, method)(path, {}, format="json")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(RETRY_AFTER_S)
    assert response.json() == {"detail": "the database is unavailable; try again later"}


@pytest.mark.parametrize("path", ["/admin/login/", "/api-auth/login/"])
def test_a_database_fault_outside_the_api_views_is_a_503_too(path):
    # Django's own error handling, not DRF's: the login pages are no API views.
    client = Client(raise_request_exception=False)
    with connection.execute_wrapper(unreachable_database):
        response = client.post(path, {"username": "sam", "password": "pw-sam-long"})
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(RETRY_AFTER_S)
    assert b"the database is unavailable; try again later" in response.content
    assert response["Content-Type"].startswith("text/plain")


def test_a_fault_django_handles_under_api_is_a_503_in_json():
    # What Django does with an exception no view handled: hand it to handler500 while
    # it is in flight (a middleware's, say, before DRF's view is reached).
    try:
        raise OperationalError("could not connect to server: Connection refused")
    except OperationalError:
        response = server_error(RequestFactory().get("/api/v1/jobs/"))
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(RETRY_AFTER_S)
    assert json.loads(response.content) == {
        "detail": "the database is unavailable; try again later"}


@pytest.fixture
def job_id(api, image_file) -> str:
    with image_file.path.open("rb") as media:
        response = api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                            format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
def test_the_report_answers_options_whatever_is_accepted(api, job_id, accept):
    response = api.options(f"/api/v1/jobs/{job_id}/report/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert b"Report" in response.content


def test_the_report_page_and_its_errors_as_html(api, job_id):
    page = api.get(f"/api/v1/jobs/{job_id}/report/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b"<html" in page.content
    missing = api.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000/report/",
                      HTTP_ACCEPT="text/html")
    assert missing.status_code == 404


@pytest.mark.parametrize("body", ["5", "[1, 2]", '"drain"', "null", "true"])
def test_patching_a_gpu_with_no_object_is_a_400(operator_api, body):
    gpu = LocalGPU.objects.create(model="NVIDIA RTX A5000", vram_gb=24, host="gpu-host-1")
    response = operator_api.patch(f"/api/v1/gpus/{gpu.id}/", body,
                                  content_type="application/json")
    assert response.status_code == 400, response.content
    assert "non_field_errors" in response.json()
    assert operator_api.patch(f"/api/v1/gpus/{gpu.id}/", {"location": "Berlin DC2"},
                              format="json").status_code == 200


def test_a_broker_fault_is_a_503_with_retry_after_and_stores_nothing(api, image_file,
                                                                     monkeypatch, settings):
    def refused(*args, **kwargs):
        raise BrokerError("[Errno 111] Connection refused")

    # The broker client's edge: every message it would send fails as with no broker.
    monkeypatch.setattr(Producer, "publish", refused)
    with image_file.path.open("rb") as media:
        response = api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                            format="multipart")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(RETRY_AFTER_S)
    assert "broker is unreachable" in response.json()["detail"]
    assert Job.objects.count() == 0
    root = Path(settings.AIMA_MEDIA_ROOT)
    assert [p for p in root.rglob("*") if p.is_file()] == []

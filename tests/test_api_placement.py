"""POST /api/v1/placement/explain/: what placement would decide, storing nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from aima_tasks.kernel.placement import Code, Decision
from aima_web.audit.models import AuditEvent
from aima_web.jobs.models import Job, MediaAsset
from aima_web.placement.api.schema import AlternativeSerializer, DecisionSerializer
from tests.placing import make_gpu

pytestmark = pytest.mark.django_db

URL = "/api/v1/placement/explain/"
VIDEO = {"media_type": "video", "size_bytes": 2_000_000_000, "duration_s": 600}


def counts() -> tuple[int, int, int]:
    return Job.objects.count(), MediaAsset.objects.count(), AuditEvent.objects.count()


def test_explain_decides_and_stores_nothing(api):
    gpu = make_gpu()
    before = counts()
    response = api.post(URL, {**VIDEO, "urgency": "high"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["placed"] is True
    assert body["queue"] == "gpu.local.24"
    assert body["choice"]["label"] == f"local GPU #{gpu.id} (NVIDIA GeForce RTX 4090 @ ws-17)"
    assert body["reason"].startswith("video job (24 GB VRAM) goes to local GPU")
    assert counts() == before


def test_analyses_default_to_all_that_apply(api):
    make_gpu()
    response = api.post(URL, VIDEO, format="json")
    # shots, loudness and silence on the reference GPU: a runtime for each, per media second.
    assert response.json()["choice"]["runtime_s"] > 600 * 0.02


def test_nothing_fits_gives_reasons_and_suggestions(api):
    make_gpu(vram_gb=8, model="RTX 3060")
    body = api.post(URL, {**VIDEO, "confidentiality": "confidential"}, format="json").json()
    assert body["placed"] is False
    assert body["code"] == "confidential_no_local"
    assert any("register a local GPU with at least 24 GB" in s for s in body["suggestions"])


def test_access_restrictions_follow_the_callers_groups(api, alice):
    make_gpu(access_restrictions=["forensics"])
    body = api.post(URL, VIDEO, format="json").json()
    assert body["placed"] is False and body["excluded"] == {"access_denied": 1}
    alice.groups.add(Group.objects.create(name="forensics"))
    assert api.post(URL, VIDEO, format="json").json()["placed"] is True


@pytest.mark.parametrize("body, field", [
    ({"size_bytes": 10}, "media_type"),
    ({"media_type": "hologram", "size_bytes": 10}, "media_type"),
    ({"media_type": "video"}, "size_bytes"),
    ({"media_type": "video", "size_bytes": -1}, "size_bytes"),
    ({"media_type": "video", "size_bytes": "big"}, "size_bytes"),
    ({**VIDEO, "analyses": ["telepathy"]}, "analyses"),
    ({**VIDEO, "analyses": ["phash"]}, "analyses"),
    ({**VIDEO, "confidentiality": "secretish"}, "confidentiality"),
    ({**VIDEO, "urgency": "yesterday"}, "urgency"),
    ({**VIDEO, "region": "EU/NL"}, "region"),
    ({**VIDEO, "priority": "first"}, "priority"),
    ({**VIDEO, "duration_s": -3}, "duration_s"),
])
def test_bad_input_names_the_field(api, body, field):
    before = counts()
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert counts() == before


def test_analysis_not_for_the_media_type_says_so(api):
    response = api.post(URL, {**VIDEO, "analyses": ["shots", "phash"]}, format="json")
    assert response.json()["analyses"] == ["phash cannot run on video media"]


def test_authentication_required():
    assert APIClient().post(URL, VIDEO, format="json").status_code == 401


def test_schema_describes_the_decision_record(api):
    record = Decision(placed=False, code=Code.NO_FIT, reason="", strategy="balanced",
                      vram_need_gb=24, min_cuda="11.8").to_dict()
    # A job's stored record adds the off-peak rule's verdict (jobs/deferral.record_of).
    assert set(DecisionSerializer().fields) == set(record) | {"deferral"}
    make_gpu()
    placed = api.post(URL, VIDEO, format="json").json()
    assert set(AlternativeSerializer().fields) >= set(placed["choice"])
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert {"/api/v1/placement/explain/", "/api/v1/placement/policy/"} <= set(schema["paths"])

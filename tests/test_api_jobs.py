"""The jobs API: submission, visibility, validation, cancellation."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from aima_web.access.roles import Role
from aima_web.audit.models import AuditEvent
from aima_web.jobs import storage
from aima_web.jobs.models import Job, MediaAsset
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def submit(api: APIClient, path: Path, **fields):
    with path.open("rb") as media:
        return api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal",
                                          **fields}, format="multipart")


def stored_files(settings) -> list[Path]:
    root = Path(settings.AIMA_MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("fixture, media_type", [
    ("video_file", "video"), ("image_file", "image"), ("audio_file", "audio")])
def test_submit_stores_media_by_content_and_detects_type(api, request, fixture, media_type):
    sample = request.getfixturevalue(fixture)
    response = submit(api, sample.path, urgency="high")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "received"
    assert body["urgency"] == "high"
    assert body["owner"] == "alice"
    assert body["media"]["media_type"] == media_type
    asset = MediaAsset.objects.get(sha256=body["media"]["sha256"])
    with storage.open_media(asset.sha256) as stored:
        assert stored.read() == sample.path.read_bytes()
    assert AuditEvent.objects.filter(action="job.submitted", subject=f"job:{body['id']}").exists()


def test_type_comes_from_content_not_name(api, image_file, tmp_path):
    disguised = tmp_path / "song.mp3"
    disguised.write_bytes(image_file.path.read_bytes())
    assert submit(api, disguised).json()["media"]["media_type"] == "image"


def test_same_content_twice_is_stored_once(api, audio_file):
    first = submit(api, audio_file.path).json()
    second = submit(api, audio_file.path).json()
    assert first["id"] != second["id"]
    assert MediaAsset.objects.count() == 1


@pytest.mark.parametrize("content", [b"", b"hello, this is plain text\n" * 50,
                                     bytes(range(256)) * 40])
def test_undecodable_file_is_refused_and_leaves_nothing(api, tmp_path, settings, content):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(content)
    response = submit(api, bogus)
    assert response.status_code == 400
    assert "media" in response.json()
    assert Job.objects.count() == 0 and MediaAsset.objects.count() == 0
    assert stored_files(settings) == []


def test_unknown_analysis_names_the_field(api, video_file, settings):
    response = submit(api, video_file.path, analyses="shots,telepathy")
    assert response.status_code == 400
    assert "telepathy" in response.json()["analyses"][0]
    assert Job.objects.count() == 0 and stored_files(settings) == []


def test_analysis_that_does_not_fit_the_media_is_refused(api, audio_file, settings):
    response = submit(api, audio_file.path, analyses=["shots"])
    assert response.status_code == 400
    assert "shots cannot run on audio" in response.json()["analyses"][0]
    assert Job.objects.count() == 0 and stored_files(settings) == []


def test_requested_analyses_are_kept(api, video_file):
    body = submit(api, video_file.path, analyses=["shots", "loudness"]).json()
    assert body["requested_analyses"] == ["shots", "loudness"]


@pytest.mark.parametrize("fields, field", [
    ({"confidentiality": "secretish"}, "confidentiality"),
    ({"urgency": "yesterday"}, "urgency"),
])
def test_bad_choices_name_the_field(api, image_file, fields, field):
    response = submit(api, image_file.path, **fields)
    assert response.status_code == 400
    assert field in response.json()


def test_missing_media_and_confidentiality(api):
    response = api.post("/api/v1/jobs/", {}, format="multipart")
    assert response.status_code == 400
    assert set(response.json()) >= {"media", "confidentiality"}


def test_upload_limit(api, video_file, settings):
    settings.AIMA_MAX_UPLOAD_BYTES = 1000
    response = submit(api, video_file.path)
    assert response.status_code == 413
    assert "limit" in response.json()["media"][0]
    assert stored_files(settings) == []


def test_unauthenticated_gets_401(client, video_file):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/jobs/").status_code == 401
    assert submit(anonymous, video_file.path).status_code == 401
    assert anonymous.get("/api/v1/gpus/").status_code == 401


def test_jobs_are_private_and_operators_see_all(api, make_user, image_file):
    job_id = submit(api, image_file.path).json()["id"]
    bob = client_for(make_user("bob"))
    assert bob.get(f"/api/v1/jobs/{job_id}/").status_code == 404
    assert bob.get(f"/api/v1/jobs/{job_id}/results/").status_code == 404
    assert bob.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 404
    assert bob.get("/api/v1/jobs/").json()["count"] == 0
    operator = client_for(make_user("carol", role=Role.OPERATOR))
    assert operator.get(f"/api/v1/jobs/{job_id}/").status_code == 200
    assert operator.get("/api/v1/jobs/").json()["count"] == 1


def test_media_downloads_decrypted_to_those_who_see_the_job_and_is_on_record(
        api, make_user, video_file, settings):
    body = submit(api, video_file.path).json()
    answer = api.get(f"/api/v1/jobs/{body['id']}/media/")
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == video_file.path.read_bytes()
    assert answer["X-Content-SHA256"] == body["media"]["sha256"]
    assert video_file.path.name in answer["Content-Disposition"]
    assert AuditEvent.objects.filter(action="job.media_read", subject=f"job:{body['id']}").exists()
    # Sealed at rest: the stored file is not the upload.
    [stored] = stored_files(settings)
    assert stored.read_bytes() != video_file.path.read_bytes()
    assert client_for(make_user("bob")).get(
        f"/api/v1/jobs/{body['id']}/media/").status_code == 404
    stored.unlink()
    assert api.get(f"/api/v1/jobs/{body['id']}/media/").status_code == 410


def test_not_a_job_id_is_404(api):
    assert api.get("/api/v1/jobs/not-a-uuid/").status_code == 404


def test_filter_by_state(api, image_file):
    job_id = submit(api, image_file.path).json()["id"]
    submit(api, image_file.path)
    api.post(f"/api/v1/jobs/{job_id}/cancel/")
    cancelled = api.get("/api/v1/jobs/?state=cancelled").json()
    assert [j["id"] for j in cancelled["results"]] == [job_id]
    assert api.get("/api/v1/jobs/?state=received").json()["count"] == 1
    response = api.get("/api/v1/jobs/?state=done")
    assert response.status_code == 400 and "state" in response.json()


def test_cancel_once(api, image_file):
    job_id = submit(api, image_file.path).json()["id"]
    first = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert first.status_code == 200
    assert first.json()["state"] == "cancelled"
    assert first.json()["finished_at"] is not None
    second = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert second.status_code == 409
    assert "already cancelled" in second.json()["detail"]


def test_results_empty_before_analysis(api, audio_file):
    job_id = submit(api, audio_file.path).json()["id"]
    response = api.get(f"/api/v1/jobs/{job_id}/results/")
    assert response.status_code == 200 and response.json() == []


def test_schema_and_docs(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/jobs/", "/api/v1/jobs/{id}/results/", "/api/v1/jobs/{id}/cancel/",
            "/api/v1/gpus/"} <= set(paths)
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


@pytest.mark.parametrize("body", [[None, None], "clip.mp4", 7])
def test_a_json_body_that_is_no_object_is_a_400(api, body):
    response = api.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    assert Job.objects.count() == 0

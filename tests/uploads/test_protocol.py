"""The resumable upload protocol (aima_web.uploads.api) through the API client."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from aima_web.jobs import storage, sweeper
from aima_web.jobs.models import Job
from aima_web.privacy.sealing import MAGIC
from aima_web.uploads import services
from aima_web.uploads.api import CHUNK_TYPE
from aima_web.uploads.models import Upload
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"


def open_upload(api, content: bytes, **fields):
    return api.post(URL, {"filename": "clip.mp4", "size": len(content),
                          "sha256": hashlib.sha256(content).hexdigest(), **fields},
                    format="json")


def patch(api, upload_id: str, offset: int, chunk: bytes, **headers):
    return api.patch(f"{URL}{upload_id}/", data=chunk, content_type=CHUNK_TYPE,
                     HTTP_UPLOAD_OFFSET=str(offset), **headers)


def upload_files(media_root: Path) -> list[Path]:
    return sorted((Path(media_root) / "incoming").glob("upload-*"))


def send_all(api, content: bytes, parts: int = 3) -> str:
    upload_id = open_upload(api, content).json()["id"]
    step = -(-len(content) // parts)
    for start in range(0, len(content), step):
        response = patch(api, upload_id, start, content[start:start + step])
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(min(start + step, len(content)))
    return upload_id


def test_open_answers_the_offset_chunk_size_and_expiry(api, video_file):
    response = open_upload(api, video_file.path.read_bytes())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["offset"] == 0 and body["chunk_bytes"] == services.CHUNK_BYTES
    assert body["complete"] is False and body["expires_at"]
    assert response["Upload-Offset"] == "0"


def test_chunks_assemble_into_sealed_media_that_a_job_takes(api, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = send_all(api, content)
    got = api.get(f"{URL}{upload_id}/")
    assert got.json()["complete"] is True and got["Upload-Offset"] == str(len(content))
    assert api.head(f"{URL}{upload_id}/")["Upload-Offset"] == str(len(content))
    # One sealed file is left: the chunks went when they were assembled.
    [assembled] = upload_files(media_root)
    assert assembled.name.endswith("-media") and assembled.read_bytes().startswith(MAGIC)
    with storage.open_sealed(assembled) as plain:
        assert plain.read() == content

    response = api.post("/api/v1/jobs/", {"upload": upload_id, "confidentiality": "internal",
                                          "analyses": ["shots"]}, format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.media.sha256 == hashlib.sha256(content).hexdigest()
    assert job.media_name == "clip.mp4" and job.media.media_type == "video"
    with storage.open_media(job.media.sha256) as stored:
        assert stored.read() == content
    assert upload_files(media_root) == [] and not Upload.objects.exists()
    assert api.get(f"{URL}{upload_id}/").status_code == 404


def test_a_wrong_offset_is_a_conflict_that_names_the_servers(api, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = open_upload(api, content).json()["id"]
    assert patch(api, upload_id, 0, content[:1000]).status_code == 204
    for wrong in (0, 500, 2000):
        response = patch(api, upload_id, wrong, content[wrong:wrong + 100])
        assert response.status_code == 409
        assert response.json()["offset"] == 1000
    assert len(upload_files(media_root)) == 1


def test_the_declared_size_over_the_limit_is_refused_writing_nothing(api, settings,
                                                                     media_root):
    settings.AIMA_MAX_UPLOAD_BYTES = 1000
    response = open_upload(api, b"x" * 1001)
    assert response.status_code == 413 and "size" in response.json()
    assert not Upload.objects.exists() and upload_files(media_root) == []


def test_bytes_past_the_declared_size_are_refused_after_one_chunk_at_most(
        api, settings, media_root):
    settings.AIMA_MAX_UPLOAD_BYTES = 1000
    content = bytes(range(256)) * 3 + b"y" * 232
    upload_id = open_upload(api, content).json()["id"]
    assert patch(api, upload_id, 0, content[:600]).status_code == 204
    # A client that goes on past what it declared (and past the limit) is refused
    # before a byte of the chunk is written.
    response = patch(api, upload_id, 600, b"z" * 600)
    assert response.status_code == 413 and "Upload-Offset" in response.json()
    assert len(upload_files(media_root)) == 1
    assert api.head(f"{URL}{upload_id}/")["Upload-Offset"] == "600"


def test_a_limit_lowered_while_the_upload_came_in_refuses_it_at_the_end(
        api, settings, media_root):
    upload_id = open_upload(api, b"b" * 2000).json()["id"]
    assert patch(api, upload_id, 0, b"b" * 1000).status_code == 204
    settings.AIMA_MAX_UPLOAD_BYTES = 1500
    response = patch(api, upload_id, 1000, b"b" * 1000)
    assert response.status_code == 413 and "size" in response.json()
    assert not Upload.objects.exists() and upload_files(media_root) == []


def test_a_chunk_over_chunk_bytes_is_refused(api, settings, media_root, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_BYTES", 100)
    upload_id = open_upload(api, b"a" * 500).json()["id"]
    response = patch(api, upload_id, 0, b"a" * 101)
    assert response.status_code == 413 and "Content-Length" in response.json()
    assert upload_files(media_root) == []


def test_a_checksum_mismatch_discards_the_upload(api, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = open_upload(api, content).json()["id"]
    tampered = content[:-1] + bytes([content[-1] ^ 1])
    assert patch(api, upload_id, 0, tampered[:2000]).status_code == 204
    response = patch(api, upload_id, 2000, tampered[2000:])
    assert response.status_code == 422 and "sha256" in response.json()
    assert not Upload.objects.exists() and upload_files(media_root) == []
    assert list(storage.stored_media()) == []


def test_only_the_owner_may_touch_an_upload(api, make_user, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = send_all(api, content)
    bob = client_for(make_user("bob"))
    assert bob.get(f"{URL}{upload_id}/").status_code == 404
    assert patch(bob, upload_id, 0, b"x").status_code == 404
    assert bob.delete(f"{URL}{upload_id}/").status_code == 404
    response = bob.post("/api/v1/jobs/", {"upload": upload_id, "confidentiality": "internal"},
                        format="json")
    assert response.status_code == 400 and "upload" in response.json()
    assert Upload.objects.filter(pk=upload_id, complete=True).exists()


def test_a_viewer_may_not_upload(make_user):
    viewer = client_for(make_user("vera", role=None))
    assert open_upload(viewer, b"abc").status_code == 403


def test_delete_abandons_the_upload_and_its_chunks(api, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = open_upload(api, content).json()["id"]
    patch(api, upload_id, 0, content[:4000])
    assert upload_files(media_root)
    assert api.delete(f"{URL}{upload_id}/").status_code == 204
    assert upload_files(media_root) == [] and not Upload.objects.exists()


def test_the_sweeper_expires_stale_uploads(api, video_file, media_root):
    content = video_file.path.read_bytes()
    upload_id = open_upload(api, content).json()["id"]
    patch(api, upload_id, 0, content[:4000])
    fresh_id = open_upload(api, content).json()["id"]
    Upload.objects.filter(pk=upload_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get(f"{URL}{upload_id}/").status_code == 404  # expired: gone already
    assert sweeper.sweep()["uploads expired"] == 1
    assert list(Upload.objects.values_list("pk", flat=True)) == [uuid.UUID(fresh_id)]
    assert upload_files(media_root) == []


def test_bad_headers_and_type_name_what_to_fix(api, video_file):
    upload_id = open_upload(api, b"abc").json()["id"]
    response = api.patch(f"{URL}{upload_id}/", data=b"abc", content_type="text/plain",
                         HTTP_UPLOAD_OFFSET="0")
    assert response.status_code == 415
    response = api.patch(f"{URL}{upload_id}/", data=b"abc", content_type=CHUNK_TYPE)
    assert response.status_code == 400 and "Upload-Offset" in response.json()
    assert open_upload(api, b"abc", sha256="nothex").status_code == 400


@pytest.mark.parametrize("fields, field", [
    ({}, "media"), ({"upload": str(uuid.uuid4())}, "upload")])
def test_a_job_needs_one_finished_upload_or_media(api, fields, field):
    response = api.post("/api/v1/jobs/", {"confidentiality": "internal", **fields},
                        format="json")
    assert response.status_code == 400 and field in response.json()


def test_a_job_refuses_an_unfinished_upload(api, video_file):
    content = video_file.path.read_bytes()
    upload_id = open_upload(api, content).json()["id"]
    patch(api, upload_id, 0, content[:100])
    response = api.post("/api/v1/jobs/", {"upload": upload_id, "confidentiality": "internal"},
                        format="json")
    assert response.status_code == 400 and "100 of" in response.json()["upload"][0]


def test_the_schema_describes_the_protocol(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/v1/uploads/{id}/"]
    assert CHUNK_TYPE in operations["patch"]["requestBody"]["content"]
    assert "Upload-Offset" in operations["patch"]["description"]
    assert "upload" in schema["components"]["schemas"]["JobCreate"]["properties"]

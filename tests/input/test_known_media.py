"""Media are stored once per content and shared by jobs, but a job shows only its own
facts: uploading a file someone else uploaded before answers exactly as for a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from aima_web.jobs.models import MediaAsset
from tests.conftest import client_for
from tests.placing import run_to_queue

pytestmark = pytest.mark.django_db

# Differ between any two jobs whatever their media.
PER_JOB = {"id", "owner", "created_at", "updated_at"}


def submit(client, path: Path) -> dict:
    with path.open("rb") as media:
        response = client.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                               format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def without_per_job(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in PER_JOB}


def test_a_known_file_answers_as_a_new_one(api, make_user, image_file):
    first = submit(api, image_file.path)
    run_to_queue(first["id"])
    assert MediaAsset.objects.get().probed_at is not None  # the shared asset is probed
    probed = api.get(f"/api/v1/jobs/{first['id']}/").json()
    assert probed["media"]["metadata"]["image"]["width"] == image_file.width

    again = submit(client_for(make_user("bob")), image_file.path)
    assert without_per_job(again) == without_per_job(first)
    assert again["media"]["metadata"] == {}
    assert "probed_at" not in again["media"]
    assert MediaAsset.objects.count() == 1


def test_the_report_shows_no_asset_timestamps(api, image_file):
    job = submit(api, image_file.path)
    run_to_queue(job["id"])
    media = api.get(f"/api/v1/jobs/{job['id']}/report/").json()["media"]
    assert "probed_at" not in media

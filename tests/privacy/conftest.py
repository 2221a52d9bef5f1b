"""A keyring of each test's own, and jobs submitted through the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.jobs import storage
from aima_web.jobs.models import Job, MediaAsset


@pytest.fixture(autouse=True)
def keyring_file(settings, tmp_path: Path) -> Path:
    """Each test seals with a keyring of its own, made on first use."""
    settings.AIMA_KEYRING = tmp_path / "keys" / "keyring.json"
    settings.AIMA_KEYRING_CREATE = True
    return settings.AIMA_KEYRING


def submitted(api: APIClient, path: Path, confidentiality: str = "internal") -> Job:
    with path.open("rb") as media:
        response = api.post("/api/v1/jobs/", {"media": media, "confidentiality": confidentiality},
                            format="multipart")
    assert response.status_code == 201, response.content
    return Job.objects.select_related("media").get(pk=response.json()["id"])


def stored_files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


def stored_job(owner: object, plain: bytes, confidentiality: str = "internal",
               finished_days_ago: float | None = None) -> Job:
    """A job over ``plain``, stored sealed as an upload is, finished that long ago
    (None: still running)."""
    received = storage.receive([plain], len(plain) + 1)
    asset, _ = MediaAsset.objects.get_or_create(
        sha256=received.sha256, defaults={"size_bytes": received.size_bytes,
                                          "media_type": "image"})
    storage.keep(received)
    finished = (None if finished_days_ago is None
                else timezone.now() - timedelta(days=finished_days_ago))
    return Job.objects.create(owner=owner, media=asset, confidentiality=confidentiality,
                              state="running" if finished is None else "succeeded",
                              finished_at=finished)

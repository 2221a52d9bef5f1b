"""Uploads are held to AIMA_MAX_UPLOAD_MB while they stream in: a refused one is never
written anywhere, an accepted one only under AIMA_MEDIA_ROOT, never to the temp folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from aima_web.jobs.models import Job, MediaAsset

pytestmark = pytest.mark.django_db


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch, settings) -> Path:
    """Whatever would land in the system's temp folder (Python's or Django's) lands here."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def upload(api, path: Path):
    with path.open("rb") as media:
        return api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                        format="multipart")


@pytest.mark.parametrize("size", [50_000, 500_000], ids=["counted-while-streaming",
                                                         "refused-by-content-length"])
def test_upload_over_the_limit_is_refused_and_nothing_is_written(api, settings, tmp_path,
                                                                 temp_dir, size):
    settings.AIMA_MAX_UPLOAD_BYTES = 20_000
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * size)
    response = upload(api, big)
    assert response.status_code == 413, response.content
    assert response.json()["media"] == ["the file is larger than the 20000 byte limit "
                                        "(AIMA_MAX_UPLOAD_MB)"]
    assert files_under(Path(settings.AIMA_MEDIA_ROOT), temp_dir) == []
    assert Job.objects.count() == 0 and MediaAsset.objects.count() == 0


def test_an_accepted_upload_streams_under_the_media_root_only(api, settings, image_file,
                                                              temp_dir):
    response = upload(api, image_file.path)
    assert response.status_code == 201, response.content
    assert files_under(temp_dir) == []
    # The upload's own file went with the request; only the stored medium is left.
    assert files_under(Path(settings.AIMA_MEDIA_ROOT) / "incoming") == []
    assert len(files_under(Path(settings.AIMA_MEDIA_ROOT))) == 1


def test_files_are_counted_together(api, settings, tmp_path, temp_dir):
    settings.AIMA_MAX_UPLOAD_BYTES = 20_000
    parts = []
    for name in ("a.bin", "b.bin", "c.bin"):
        (tmp_path / name).write_bytes(b"\0" * 9_000)
        parts.append((tmp_path / name).open("rb"))
    try:
        response = api.post("/api/v1/jobs/", {"media": parts[0], "extra": parts[1],
                                              "more": parts[2], "confidentiality": "internal"},
                            format="multipart")
    finally:
        for part in parts:
            part.close()
    assert response.status_code == 413, response.content
    assert list(response.json()) == ["more"]
    assert files_under(Path(settings.AIMA_MEDIA_ROOT), temp_dir) == []

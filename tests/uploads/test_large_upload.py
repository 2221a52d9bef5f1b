"""Done-when of issue 17: an uncompressed video over 1 GiB goes up in chunks to a live
server, the connection drops in the middle of a chunk, the upload resumes from the
server's offset, and the stored media decrypt to the source's SHA-256; every chunk
on disk is sealed; the job made from it is cancelled."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.jobs import storage
from aima_web.jobs.models import Job
from aima_web.privacy.sealing import MAGIC
from aima_web.uploads import files, services
from aima_web.uploads.models import UploadChunk
from tests.uploads import video
from tests.uploads.wire import Wire

SIZE = video.size_for(780)  # 1.07 GB of 1280x720 4:2:0 frames
CHUNK = services.CHUNK_BYTES


def assert_chunks_sealed(upload_id: str) -> None:
    """Each chunk file is sealed: the header, and none of its plaintext in the clear."""
    chunks = UploadChunk.objects.filter(upload_id=upload_id).order_by("offset")
    assert len(chunks) > 1
    for chunk in chunks:
        data = (files.folder() / chunk.name).read_bytes()
        assert data.startswith(MAGIC)
        start = chunk.offset + chunk.size_bytes // 2
        assert b"".join(video.pieces(start, start + 64)) not in data
    assert video.HEADER not in (files.folder() / chunks[0].name).read_bytes()


def send(wire: Wire, upload_id: str) -> bool:
    """Send the video in chunks from the server's offset; drop the connection once,
    midway through the chunk that crosses the middle of the file. Return whether it
    was dropped and resumed."""
    offset, dropped = 0, False
    while offset < SIZE:
        end = min(offset + CHUNK, SIZE)
        if not dropped and end > SIZE // 2:
            cut = (end - offset) // 2
            assert wire.patch(upload_id, offset, end - offset, video.pieces(offset, end),
                              stop_after=cut) is None
            dropped = True
            # The server keeps what arrived before the cut once it sees the connection
            # end; ask it where to go on (pytest's timeout bounds the wait).
            while (resumed := wire.offset(upload_id)) == offset:
                time.sleep(0.05)
            assert resumed == offset + cut
            offset = resumed
            continue
        if end == SIZE:
            assert_chunks_sealed(upload_id)
        status, headers, body = wire.patch(upload_id, offset, end - offset,
                                           video.pieces(offset, end))
        assert status == 204, body
        offset = int(headers["Upload-Offset"])
    return dropped


@pytest.mark.django_db(transaction=True)
def test_a_raw_video_over_a_gigabyte_resumes_after_a_drop_and_keeps_its_sha256(
        live_server, alice, media_root):
    assert SIZE > 1024 ** 3
    wire = Wire(live_server.url, tokens.issue(ApiToken(user=alice, name="wire"), "wire"))
    digest = video.sha256(SIZE)
    status, _, created = wire.call("POST", "/api/v1/uploads/",
                                   {"filename": "raw.y4m", "size": SIZE, "sha256": digest})
    assert status == 201, created
    upload_id = created["id"]

    assert send(wire, upload_id)
    status, _, finished = wire.call("GET", f"/api/v1/uploads/{upload_id}/")
    assert finished["complete"] is True and finished["offset"] == SIZE
    assembled = files.media_path(uuid.UUID(upload_id))
    assert assembled.read_bytes()[:len(MAGIC)] == MAGIC
    assert [p.name for p in files.files_of(uuid.UUID(upload_id))] == [assembled.name]

    status, _, job = wire.call("POST", "/api/v1/jobs/",
                               {"upload": upload_id, "confidentiality": "internal"})
    assert status == 201, job
    assert job["media"]["sha256"] == digest and job["media"]["media_type"] == "video"
    stored = storage.content_path(digest)
    with stored.open("rb") as raw:
        assert raw.read(len(MAGIC)) == MAGIC
    assert decrypted_sha256(stored) == digest
    assert files.files_of(uuid.UUID(upload_id)) == []

    status, _, cancelled = wire.call("POST", f"/api/v1/jobs/{job['id']}/cancel/")
    assert status == 200 and cancelled["state"] == "cancelled"
    assert Job.objects.get(pk=job["id"]).state == "cancelled"


def decrypted_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with storage.open_sealed(path) as plain:
        while piece := plain.read(files.PIECE_BYTES):
            digest.update(piece)
    return digest.hexdigest()

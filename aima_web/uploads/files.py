"""The files of a resumable upload, beside the uploads still arriving in one request
under ``AIMA_MEDIA_ROOT/incoming``: ``upload-<id>-<random>`` per chunk and
``upload-<id>-media`` once assembled, every one sealed like stored media
(``aima_web.jobs.storage``).

Kept there on purpose: key retirement (``aima_web.privacy.rotation.retire_old``)
counts the files in ``incoming`` as in flight and waits for those sealed with an
old key, so a paused upload never loses its key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from aima_web.jobs import storage

PREFIX = "upload-"
# Read from the request and from sealed chunks in pieces this large: never a chunk whole.
PIECE_BYTES = 1024 * 1024


def folder() -> Path:
    path = Path(settings.AIMA_MEDIA_ROOT) / "incoming"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def media_path(upload_id: uuid.UUID) -> Path:
    return folder() / f"{PREFIX}{upload_id.hex}-media"


def files_of(upload_id: uuid.UUID) -> list[Path]:
    """Every file of the upload: its chunks (those a dropped request left too) and
    its assembled media."""
    return sorted(folder().glob(f"{PREFIX}{upload_id.hex}-*"))


def write_chunk(upload_id: uuid.UUID, body: BinaryIO, length: int) -> tuple[str, int]:
    """Seal up to ``length`` bytes of ``body`` into a new chunk file; return its name
    and how many bytes arrived. A request cut off midway keeps what came before the
    cut (the client resumes from there); nothing arrived: no file."""
    name = f"{PREFIX}{upload_id.hex}-{uuid.uuid4().hex}"
    path = folder() / name
    received = 0
    try:
        # Sealed as it arrives; a writer left by an exception never opens (no final chunk).
        with storage.sealing_writer(path) as writer:
            while received < length:
                try:
                    piece = body.read(min(PIECE_BYTES, length - received))
                except OSError:  # the connection broke (a reset) instead of ending
                    break
                if not piece:
                    break
                writer.write(piece)
                received += len(piece)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if received == 0:
        path.unlink(missing_ok=True)
    return name, received


def plaintext(names: list[str]) -> Iterator[bytes]:
    """The chunks' plaintext, in this order, a piece at a time."""
    for name in names:
        with storage.open_sealed(folder() / name) as chunk:
            while piece := chunk.read(PIECE_BYTES):
                yield piece


def media_plaintext(upload_id: uuid.UUID) -> Iterator[bytes]:
    with storage.open_sealed(media_path(upload_id)) as media:
        while piece := media.read(PIECE_BYTES):
            yield piece


def delete(upload_id: uuid.UUID) -> None:
    for path in files_of(upload_id):
        path.unlink(missing_ok=True)

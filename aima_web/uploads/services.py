"""What happens to resumable uploads: opened, fed chunk by chunk, assembled and
verified on the last byte, taken by a job, abandoned or expired (the protocol:
``aima_web.uploads.api``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from aima_web.jobs import storage
from aima_web.uploads import files
from aima_web.uploads.models import Upload, UploadChunk

# The most one PATCH may carry: large enough that a file of a few GB takes few
# requests, small enough that a dropped one costs little.
CHUNK_BYTES = 64 * 1024 * 1024
# An upload nobody added to for this long is swept (aima_web.jobs.sweeper).
TTL = timedelta(hours=24)
# A bound on files per upload: a client sending single bytes would otherwise make one
# file per byte.
MAX_CHUNKS = 10_000


class UploadError(ValueError):
    """A request refused for its content; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TooLarge(UploadError):
    pass


class ChecksumMismatch(UploadError):
    pass


class OffsetConflict(ValueError):
    """The chunk does not start where the upload stands (``offset``)."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the upload stands at offset {offset}; send the bytes from there")
        self.offset = offset


def open_upload(owner: Any, filename: str, size_bytes: int, sha256: str) -> Upload:
    """A new upload, refused (writing nothing) over AIMA_MAX_UPLOAD_MB."""
    limit = settings.AIMA_MAX_UPLOAD_BYTES
    if size_bytes > limit:
        raise TooLarge("size", f"the file is larger than the {limit // (1024 * 1024)} MB "
                               "limit (AIMA_MAX_UPLOAD_MB)")
    return Upload.objects.create(owner=owner, filename=filename[:255], size_bytes=size_bytes,
                                 sha256=sha256.lower(), expires_at=timezone.now() + TTL)


def append(upload: Upload, offset: int, length: int, body: BinaryIO) -> int:
    """Store the chunk at ``offset`` (``length`` bytes announced); return the new offset.
    Everything that can be refused is refused before a byte is read or written."""
    if offset != upload.offset or (upload.complete and length):
        raise OffsetConflict(upload.offset)
    if offset + length > upload.size_bytes:
        raise TooLarge("Upload-Offset", f"the chunk ends at byte {offset + length}, past the "
                                        f"declared size of {upload.size_bytes}")
    if length > CHUNK_BYTES:
        raise TooLarge("Content-Length", f"a chunk may carry at most {CHUNK_BYTES} bytes")
    if upload.chunks.count() >= MAX_CHUNKS:
        raise TooLarge("Content-Length", f"more than {MAX_CHUNKS} chunks; send larger ones")
    if length:
        name, received = files.write_chunk(upload.id, body, length)
        if received:
            _commit(upload, offset, received, name)
    upload.refresh_from_db()
    if upload.offset == upload.size_bytes and not upload.complete:
        finish(upload)
    return upload.offset


def _commit(upload: Upload, offset: int, received: int, name: str) -> None:
    """Count the chunk in unless another request took this offset meanwhile (409)."""
    with transaction.atomic():
        moved = Upload.objects.filter(pk=upload.pk, offset=offset, complete=False).update(
            offset=F("offset") + received, expires_at=timezone.now() + TTL)
        if moved:
            UploadChunk.objects.create(upload=upload, offset=offset, size_bytes=received,
                                       name=name)
            return
    (files.folder() / name).unlink(missing_ok=True)
    upload.refresh_from_db()
    raise OffsetConflict(upload.offset)


def finish(upload: Upload) -> None:
    """Assemble the chunks into one sealed file while taking its SHA-256; a mismatch
    with the declared one discards the whole upload (ChecksumMismatch)."""
    names = list(upload.chunks.order_by("offset").values_list("name", flat=True))
    try:
        received = storage.receive(files.plaintext(names), settings.AIMA_MAX_UPLOAD_BYTES)
    except storage.UploadTooLarge as exc:  # the limit was lowered while it came in
        abandon(upload)
        raise TooLarge("size", str(exc)) from None
    if (received.sha256, received.size_bytes) != (upload.sha256, upload.size_bytes):
        storage.discard(received.path)
        abandon(upload)
        raise ChecksumMismatch("sha256", f"the file's SHA-256 is {received.sha256}, not the "
                                         "declared one; the upload was discarded")
    os.replace(received.path, files.media_path(upload.id))
    with transaction.atomic():
        Upload.objects.filter(pk=upload.pk).update(complete=True)
        upload.chunks.all().delete()
    for name in names:
        (files.folder() / name).unlink(missing_ok=True)
    upload.refresh_from_db()


def abandon(upload: Upload) -> None:
    """Delete the upload and every file of it."""
    upload_id = upload.id  # delete() forgets it
    upload.delete()
    files.delete(upload_id)


def media(upload: Upload) -> Iterator[bytes]:
    """A finished upload's plaintext, for a job submission (aima_web.jobs.api)."""
    return files.media_plaintext(upload.id)


def expire(now: datetime | None = None) -> int:
    """Abandon every upload past its expiry; return how many (the sweeper's hook)."""
    now = now or timezone.now()
    stale = list(Upload.objects.filter(expires_at__lt=now))
    for upload in stale:
        abandon(upload)
    return len(stale)


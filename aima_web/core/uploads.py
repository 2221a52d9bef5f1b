"""Uploads held to AIMA_MAX_UPLOAD_MB (all files of a request together) while they
stream in.

Django's default handlers keep small files in memory and write the rest whole to
/tmp before any view can look at their size. This one refuses a request whose
Content-Length is already over the limit before reading the file, counts the bytes
as they arrive, and seals them into a private file under ``AIMA_MEDIA_ROOT/incoming``
(deleted with the request); past the limit it deletes what it wrote and stops.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import status
from rest_framework.exceptions import APIException

from aima_web.jobs import storage

_MB = 1024 * 1024
# Room for the multipart boundaries and the other form fields beside the file.
_FORM_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(APIException):
    """413, naming the form field of the file that is too large."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"

    def __init__(self, field: str, limit_bytes: int) -> None:
        super().__init__({field: [f"the file is larger than the {_readable(limit_bytes)} "
                                  "limit (AIMA_MAX_UPLOAD_MB)"]})


def _readable(size: int) -> str:
    return f"{size // _MB} MB" if size >= _MB else f"{size} byte"


class IncomingFile(UploadedFile):
    """An upload sealed as it arrives (``aima_web.jobs.storage``) into a private (0600)
    file under ``AIMA_MEDIA_ROOT/incoming``, read back in clear once complete, and
    removed when it is closed (Django closes it when the request ends)."""

    def __init__(self, folder: Path, name: str, content_type: str, charset: str | None,
                 content_type_extra: dict[str, Any] | None) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / f"upload-{uuid.uuid4().hex}"
        super().__init__(storage.sealing_writer(self.path, durable=False), name, content_type,
                         0, charset, content_type_extra)

    def complete(self) -> None:
        """Seal the last chunk and read the plaintext from the start from now on."""
        self.file.close()
        self.file = storage.open_sealed(self.path)

    def close(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class LimitedUploadHandler(FileUploadHandler):
    """Streams every uploaded file to disk, refusing it past AIMA_MAX_UPLOAD_MB."""

    def handle_raw_input(self, input_data: Any, META: dict[str, Any], content_length: int,
                         boundary: bytes, encoding: str | None = None) -> None:
        self.limit_bytes: int = settings.AIMA_MAX_UPLOAD_BYTES
        self.request_length = content_length  # the whole body's, from its header
        # Counted over all the request's files: many files each within the limit are not.
        self.received = 0
        self.opened: list[IncomingFile] = []

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        # The body says up front that it is too large: refuse before reading the file.
        if self.request_length > self.limit_bytes + _FORM_OVERHEAD_BYTES:
            self._refuse(field_name)
        self.file = IncomingFile(Path(settings.AIMA_MEDIA_ROOT) / "incoming", self.file_name,
                                 self.content_type, self.charset, self.content_type_extra)
        self.opened.append(self.file)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit_bytes:
            self._refuse(self.field_name)
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.file.complete()
        self.file.size = file_size
        return self.file

    def upload_interrupted(self) -> None:
        for opened in self.opened:
            opened.close()

    def _refuse(self, field_name: str) -> None:
        """Delete every file this request wrote so far, then answer 413."""
        self.upload_interrupted()
        raise UploadTooLarge(field_name, self.limit_bytes)

"""A finished resumable upload as the source of a job's media (``POST /api/v1/jobs/``
with ``upload``): the jobs API reads its plaintext into the ordinary submission,
which checks and stores it like a file sent in the request, then lets it go."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from aima_web.uploads import services
from aima_web.uploads.models import Upload


@dataclass(frozen=True)
class Source:
    upload: Upload

    @property
    def filename(self) -> str:
        return self.upload.filename

    def chunks(self) -> Iterator[bytes]:
        return services.media(self.upload)

    def taken(self) -> None:
        """The job holds the file now (stored by content): the upload goes."""
        services.abandon(self.upload)


def source(owner: Any, upload_id: uuid.UUID | None) -> Source | None:
    """The owner's finished upload ``upload_id``; None when none is named; 400 naming
    ``upload`` when it is not the owner's, expired or not finished."""
    if upload_id is None:
        return None
    upload = Upload.objects.filter(pk=upload_id, owner=owner,
                                   expires_at__gte=timezone.now()).first()
    if upload is None:
        raise ValidationError({"upload": [f"no upload {upload_id} of yours"]})
    if not upload.complete:
        raise ValidationError({"upload": [
            f"the upload has {upload.offset} of {upload.size_bytes} bytes; finish it first"]})
    return Source(upload)

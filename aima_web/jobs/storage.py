"""Media on disk, addressed by content: ``<media root>/<sha[:2]>/<sha256>``.

An upload is streamed to a private temporary file while its SHA-256 is taken,
and only moved into place once it has been accepted.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from aima_web.jobs.models import content_path


class UploadTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Received:
    path: Path
    sha256: str
    size_bytes: int


def receive(chunks: Iterable[bytes], limit_bytes: int) -> Received:
    incoming = Path(settings.AIMA_MEDIA_ROOT) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit_bytes:
                    raise UploadTooLarge(
                        f"the file is larger than the {limit_bytes // (1024 * 1024)} MB limit "
                        f"(AIMA_MAX_UPLOAD_MB)")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path=path, sha256=digest.hexdigest(), size_bytes=size)


def keep(received: Received) -> bool:
    """Move an accepted upload to its content address; return whether it is new there."""
    target = content_path(received.sha256)
    if target.exists():
        received.path.unlink(missing_ok=True)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.path, target)
    return True


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)

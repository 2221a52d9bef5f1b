"""Uploaded media on disk, addressed by content under ``AIMA_MEDIA_ROOT``
(see ``aima_web.core.content``), an upload no larger than ``AIMA_MAX_UPLOAD_MB``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from aima_web.core import content
from aima_web.core.content import Received
from aima_web.jobs.models import content_path

__all__ = ["Received", "UploadTooLarge", "content_path", "discard", "keep", "receive"]

UploadTooLarge = content.TooLarge


def receive(chunks: Iterable[bytes], limit_bytes: int) -> Received:
    return content.receive(chunks, Path(settings.AIMA_MEDIA_ROOT), limit_bytes,
                           "AIMA_MAX_UPLOAD_MB")


def keep(received: Received) -> bool:
    """Move an accepted upload to its content address; return whether it is new there."""
    return content.keep(received, Path(settings.AIMA_MEDIA_ROOT))


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)

"""Uploaded media on disk, addressed by content under ``AIMA_MEDIA_ROOT``
(see ``aima_web.core.content``), an upload no larger than ``AIMA_MAX_UPLOAD_MB``.

Every file here, the upload still incoming included, is sealed with the keyring's
current key (``aima_web.privacy.sealing``): read media through ``open_media`` or,
for code that needs a path, ``decrypted_copy``, which lasts only for its ``with``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from aima_web.core import content
from aima_web.core.content import Received
from aima_web.jobs.models import content_path
from aima_web.privacy import keyring
from aima_web.privacy.sealing import CHUNK_BYTES, SealedReader, SealingWriter, key_id_of

__all__ = ["Received", "UploadTooLarge", "content_path", "decrypted_copy", "discard",
           "incoming_media", "keep", "key_of", "open_media", "open_sealed", "plaintext_copy",
           "receive", "reseal", "sealing_writer", "stored_media"]

UploadTooLarge = content.TooLarge


def sealing_writer(path: Path, durable: bool = True) -> SealingWriter:
    """A new private file at ``path`` that seals what is written to it."""
    ring = keyring.load()
    return SealingWriter(content.private_file(path), ring.current, ring.current_key, durable)


def receive(chunks: Iterable[bytes], limit_bytes: int) -> Received:
    return content.receive(chunks, Path(settings.AIMA_MEDIA_ROOT), limit_bytes,
                           "AIMA_MAX_UPLOAD_MB", writer=sealing_writer)


def keep(received: Received) -> bool:
    """Move an accepted upload to its content address; return whether it is new there."""
    return content.keep(received, Path(settings.AIMA_MEDIA_ROOT))


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def open_sealed(path: Path) -> SealedReader:
    """The plaintext of a sealed file, as a seekable binary file (raises Unreadable)."""
    keys = keyring.load().key
    return SealedReader(Path(path).open("rb"), keys)


def open_media(sha256: str) -> SealedReader:
    return open_sealed(content_path(sha256))


@contextmanager
def plaintext_copy(path: Path) -> Iterator[Path]:
    """A decrypted copy of a sealed file in a private (0700) temporary folder, removed
    when the ``with`` ends: for readers that need a path (Pillow, FFmpeg probes)."""
    folder = Path(tempfile.mkdtemp(prefix="aima-plain-"))
    try:
        copy = folder / "media"
        with open_sealed(path) as source, content.private_file(copy) as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def decrypted_copy(sha256: str) -> AbstractContextManager[Path]:
    return plaintext_copy(content_path(sha256))


def stored_media() -> Iterator[Path]:
    return content.stored(Path(settings.AIMA_MEDIA_ROOT))


def incoming_media() -> list[Path]:
    """Uploads still arriving (or refused and about to go)."""
    incoming = Path(settings.AIMA_MEDIA_ROOT) / "incoming"
    return sorted(p for p in incoming.iterdir() if p.is_file()) if incoming.is_dir() else []


def key_of(path: Path) -> str:
    """The id of the key ``path`` is sealed with (raises Unreadable)."""
    with Path(path).open("rb") as raw:
        return key_id_of(raw)


def reseal(path: Path) -> bool:
    """Seal ``path`` again with the current key unless it is sealed with it already;
    return whether it changed. Readers see the old file or the new, never half of one."""
    ring = keyring.load()
    if key_of(path) == ring.current:
        return False

    def write(out: BinaryIO) -> None:
        with open_sealed(path) as source:
            writer = SealingWriter(out, ring.current, ring.current_key, durable=False)
            shutil.copyfileobj(source, writer, CHUNK_BYTES)
            writer.finish()

    content.write_atomically(path, write)
    return True

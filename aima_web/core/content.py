"""Files addressed by their content: ``<root>/<sha[:2]>/<sha256>``.

A file is streamed to a private temporary file under ``<root>/incoming``
while its SHA-256 is taken, and only moved into place once it is accepted, so
that nothing half-written is ever found at an address.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class TooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Received:
    path: Path
    sha256: str
    size_bytes: int


def address(root: Path, sha256: str) -> Path:
    return Path(root) / sha256[:2] / sha256


def receive(chunks: Iterable[bytes], root: Path, limit_bytes: int | None = None,
            limit_setting: str = "") -> Received:
    """Stream ``chunks`` to a temporary file, hashing them; raise TooLarge
    (naming ``limit_setting``) past ``limit_bytes``, leaving nothing behind."""
    incoming = Path(root) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if limit_bytes is not None and size > limit_bytes:
                    raise TooLarge(f"the file is larger than the "
                                   f"{limit_bytes // (1024 * 1024)} MB limit ({limit_setting})")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path=path, sha256=digest.hexdigest(), size_bytes=size)


def keep(received: Received, root: Path) -> bool:
    """Move an accepted file to its content address; return whether it is new there."""
    target = address(root, received.sha256)
    if target.exists():
        received.path.unlink(missing_ok=True)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.path, target)
    return True

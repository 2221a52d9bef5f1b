"""Files addressed by their content: ``<root>/<sha[:2]>/<sha256>``, readable by their
owner only (0600).

A file is streamed to a private temporary file under ``<root>/incoming``
while its SHA-256 is taken, and only moved into place once it is accepted, so
that nothing half-written is ever found at an address. What lands on disk is
up to the caller's ``writer``: media go through a sealing one, so the address is
the SHA-256 of the plaintext while the file holds only ciphertext.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class TooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Received:
    path: Path
    sha256: str
    size_bytes: int


Writer = Callable[[Path], AbstractContextManager[Any]]


def address(root: Path, sha256: str) -> Path:
    return Path(root) / sha256[:2] / sha256


def private_file(path: Path) -> BinaryIO:
    """A new file only its owner can read (0600); refuses to overwrite one."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def receive(chunks: Iterable[bytes], root: Path, limit_bytes: int | None = None,
            limit_setting: str = "", writer: Writer = private_file) -> Received:
    """Stream ``chunks`` through ``writer`` to a temporary file, hashing them; raise
    TooLarge (naming ``limit_setting``) past ``limit_bytes``, leaving nothing behind."""
    incoming = Path(root) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = incoming / uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    try:
        with writer(path) as out:
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
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(received.path, target)
    return True


def stored(root: Path) -> Iterator[Path]:
    """Every file at an address under ``root`` (not those still incoming)."""
    root = Path(root)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and len(folder.name) == 2:
            yield from sorted(p for p in folder.iterdir()
                              if p.is_file() and p.name.startswith(folder.name))


def write_atomically(path: Path, write: Callable[[BinaryIO], None],
                     overwrite: bool = True) -> bool:
    """Write ``path`` beside it, fsync, and rename it into place: a reader sees the old
    file or the new, never half of one. Without ``overwrite``, leave a file already
    there (made meanwhile by another process) as it is. Return whether it was written."""
    spare = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        with private_file(spare) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(spare, path)
        else:
            os.link(spare, path)  # fails where a file exists, unlike a rename
    except FileExistsError:
        return False
    finally:
        spare.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return True

"""The keys that seal media and results at rest, kept in a file outside the database
(``AIMA_KEYRING``)::

    {"current": "<key id>", "keys": {"<key id>": "<base64 of 32 random bytes>", ...}}

New data is sealed with the current key; any key in the ring opens what it sealed.
The file is rewritten atomically (new file beside, fsync, rename), so a process
never reads half a keyring, and every process picks a rotation up at its next use.
"""

from __future__ import annotations

import base64
import json
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from aima_web.core import content
from aima_web.privacy.sealing import Unreadable

KEY_BYTES = 32


class KeyringError(RuntimeError):
    """The keyring is missing, unreadable or readable by others."""


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, bytes] = field(repr=False)

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise Unreadable(f"sealed with key {key_id!r}, which is not in the keyring "
                             f"({settings.AIMA_KEYRING})") from None

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


_cache: dict[Path, tuple[tuple[int, int, int], Keyring]] = {}


def load() -> Keyring:
    """The keyring, read again only when its file changed; made on first use where
    ``AIMA_KEYRING_CREATE`` allows (the embedded default)."""
    path = Path(settings.AIMA_KEYRING)
    try:
        info = path.stat()
    except FileNotFoundError:
        if not settings.AIMA_KEYRING_CREATE:
            raise KeyringError(f"no keyring at {path} (AIMA_KEYRING): create it with "
                               "manage.py aima_keys init, or restore it") from None
        # Processes starting together may all get here: the first file made wins.
        _write(path, Keyring(_new_key_id(), {}), new_key=True, overwrite=False)
        info = path.stat()
    if info.st_mode & 0o077:
        raise KeyringError(f"the keyring {path} is readable by others "
                           f"(mode {stat.filemode(info.st_mode)}): chmod 600 it")
    stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    ring = _parse(path)
    _cache[path] = (stamp, ring)
    return ring


def _parse(path: Path) -> Keyring:
    try:
        raw = json.loads(path.read_text())
        keys = {key_id: base64.b64decode(value, validate=True)
                for key_id, value in raw["keys"].items()}
        ring = Keyring(raw["current"], keys)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyringError(f"the keyring {path} is unreadable: {exc}") from exc
    if ring.current not in keys or any(len(k) != KEY_BYTES for k in keys.values()):
        raise KeyringError(f"the keyring {path} has no current key or a key that is not "
                           f"{KEY_BYTES} bytes")
    return ring


def create() -> str:
    """Make a keyring with one fresh key at ``AIMA_KEYRING``; refuse if one is there."""
    path = Path(settings.AIMA_KEYRING)
    key_id = _new_key_id()
    if not _write(path, Keyring(key_id, {}), new_key=True, overwrite=False):
        raise KeyringError(f"a keyring exists at {path} already")
    return key_id


def add_current() -> str:
    """Add a fresh key and make it the current one; older keys stay to open old data."""
    ring = load()
    key_id = _new_key_id()
    _write(Path(settings.AIMA_KEYRING), Keyring(key_id, dict(ring.keys)), new_key=True)
    return key_id


def retire_all_but_current() -> list[str]:
    ring = load()
    retired = sorted(k for k in ring.keys if k != ring.current)
    _write(Path(settings.AIMA_KEYRING),
           Keyring(ring.current, {ring.current: ring.current_key}))
    return retired


def _new_key_id() -> str:
    return f"k{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _write(path: Path, ring: Keyring, new_key: bool = False, overwrite: bool = True) -> bool:
    keys = dict(ring.keys)
    if new_key:
        keys[ring.current] = secrets.token_bytes(KEY_BYTES)
    text = json.dumps({"current": ring.current,
                       "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}},
                      indent=2)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return content.write_atomically(path, lambda out: out.write(text.encode()), overwrite)

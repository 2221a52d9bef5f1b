"""Authenticated encryption of a byte stream in chunks: AES-256-GCM, one key per stream.

A sealed stream is a header, then chunks::

    header = MAGIC | key-id length (1 byte) | key id | salt (32 bytes) | chunk size (4 bytes)
    chunk  = AES-GCM(chunk size plaintext bytes, or fewer in the last chunk) | 16-byte tag

The stream's key is HKDF-SHA256(keyring key, salt), so nonces never repeat under one
key; a chunk's nonce is its index and a final-chunk flag, and the header is its
associated data. So a changed byte, an edited header, reordered, dropped or appended
chunks and a truncation at a chunk boundary all fail to open. Neither sealing nor
opening holds more than one chunk in memory, and an opened stream seeks.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AIMASEAL1"
TAG_BYTES = 16
SALT_BYTES = 32
CHUNK_BYTES = 256 * 1024
_INFO = b"aima sealed stream v1"

KeyLookup = Callable[[str], bytes]


class Unreadable(ValueError):
    """Sealed data that does not open: altered, truncated, not sealed, or its key is gone."""


@dataclass(frozen=True)
class Header:
    key_id: str
    salt: bytes
    chunk_bytes: int

    def to_bytes(self) -> bytes:
        key_id = self.key_id.encode()
        return (MAGIC + bytes([len(key_id)]) + key_id + self.salt
                + struct.pack(">I", self.chunk_bytes))

    @classmethod
    def read(cls, raw: BinaryIO) -> Self:
        if raw.read(len(MAGIC)) != MAGIC:
            raise Unreadable("not sealed data (no AIMA seal header)")
        length = raw.read(1)
        key_id = raw.read(length[0]) if length else b""
        salt = raw.read(SALT_BYTES)
        size = raw.read(4)
        if not key_id or len(key_id) != length[0] or len(salt) != SALT_BYTES or len(size) != 4:
            raise Unreadable("the seal header is cut short")
        chunk_bytes = struct.unpack(">I", size)[0]
        if chunk_bytes == 0:
            raise Unreadable("the seal header names a chunk size of 0")
        return cls(key_id.decode(errors="replace"), salt, chunk_bytes)


def key_id_of(raw: BinaryIO) -> str:
    """The id of the key a sealed stream was sealed with, without opening it."""
    return Header.read(raw).key_id


def _cipher(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key)
    return AESGCM(derived)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class SealingWriter:
    """Seals what is written to it into ``raw``; only ``close`` writes the final chunk,
    so a stream abandoned half way (an exception in the ``with``) never opens."""

    def __init__(self, raw: BinaryIO, key_id: str, key: bytes, durable: bool = True,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        header = Header(key_id, os.urandom(SALT_BYTES), chunk_bytes)
        self._raw = raw
        self._durable = durable
        self._aad = header.to_bytes()
        self._cipher = _cipher(key, header.salt)
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._index = 0
        raw.write(self._aad)

    def write(self, data: bytes) -> int:
        self._buffer += data
        # Keep at least one chunk back: only at close is it known which chunk is last.
        while len(self._buffer) > self._chunk_bytes:
            self._emit(bytes(self._buffer[:self._chunk_bytes]), final=False)
            del self._buffer[:self._chunk_bytes]
        return len(data)

    def _emit(self, chunk: bytes, final: bool) -> None:
        self._raw.write(self._cipher.encrypt(_nonce(self._index, final), chunk, self._aad))
        self._index += 1

    def finish(self) -> None:
        """Write the final chunk; a durable writer also waits until it is on disk."""
        self._emit(bytes(self._buffer), final=True)
        self._buffer.clear()
        self._raw.flush()
        if self._durable:
            os.fsync(self._raw.fileno())

    def close(self) -> None:
        if not self._raw.closed:
            self.finish()
            self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._raw.close()


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed stream, read and sought like a file; raises Unreadable
    at the first chunk that fails to open."""

    def __init__(self, raw: BinaryIO, keys: KeyLookup) -> None:
        super().__init__()
        self._raw = raw
        try:
            header = Header.read(raw)
            self._cipher = _cipher(keys(header.key_id), header.salt)
        except BaseException:
            raw.close()
            raise
        self.key_id = header.key_id
        self._aad = header.to_bytes()
        self._chunk_bytes = header.chunk_bytes
        body = raw.seek(0, io.SEEK_END) - len(self._aad)
        sealed_chunk = header.chunk_bytes + TAG_BYTES
        full, rest = divmod(body, sealed_chunk)
        if body < TAG_BYTES or 0 < rest < TAG_BYTES:
            raw.close()
            raise Unreadable("the sealed data is cut short")
        self._chunks = full + (1 if rest else 0)
        self.size = body - self._chunks * TAG_BYTES
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        sealed_chunk = self._chunk_bytes + TAG_BYTES
        self._raw.seek(len(self._aad) + index * sealed_chunk)
        sealed = self._raw.read(sealed_chunk)
        try:
            plain = self._cipher.decrypt(_nonce(index, index == self._chunks - 1), sealed,
                                         self._aad)
        except InvalidTag:
            raise Unreadable(
                f"chunk {index} of {self._chunks} fails authentication: the sealed data was "
                "altered, truncated or reordered") from None
        self._cached = (index, plain)
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._position >= self.size:
            if self._position == 0:
                self._chunk(0)  # an empty stream still proves it is whole
            return 0
        # Fill the whole buffer where the data allows: Pillow takes a short read for the end.
        filled = 0
        while filled < len(buffer) and self._position < self.size:
            index, offset = divmod(self._position, self._chunk_bytes)
            piece = self._chunk(index)[offset:offset + len(buffer) - filled]
            buffer[filled:filled + len(piece)] = piece
            filled += len(piece)
            self._position += len(piece)
        return filled

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._raw.close()
        super().close()


def seal(data: bytes, key_id: str, key: bytes) -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, key_id, key, durable=False)
    writer.write(data)
    writer.finish()
    return out.getvalue()


def unseal(sealed: bytes, keys: KeyLookup) -> bytes:
    with SealedReader(io.BytesIO(sealed), keys) as reader:
        return reader.read()

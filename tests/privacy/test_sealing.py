"""The sealed stream format: round trips, random access, and every way of damaging it."""

from __future__ import annotations

import io
import os

import pytest

from aima_web.privacy.sealing import (
    TAG_BYTES,
    Header,
    SealedReader,
    SealingWriter,
    Unreadable,
    seal,
    unseal,
)

KEY = os.urandom(32)
CHUNK = 64


def keys(key_id: str) -> bytes:
    if key_id != "k1":
        raise Unreadable(f"no key {key_id}")
    return KEY


def sealed(plain: bytes, pieces: int = 7) -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, "k1", KEY, durable=False, chunk_bytes=CHUNK)
    for start in range(0, len(plain), pieces):
        writer.write(plain[start:start + pieces])
    writer.finish()
    return out.getvalue()


def opened(data: bytes) -> bytes:
    with SealedReader(io.BytesIO(data), keys) as reader:
        return reader.read()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_round_trip_at_every_chunk_boundary(size):
    plain = os.urandom(size)
    data = sealed(plain)
    assert opened(data) == plain
    assert len(plain) < 16 or plain not in data  # a byte or two turn up anywhere


def test_seeks_anywhere():
    plain = os.urandom(5 * CHUNK + 3)
    with SealedReader(io.BytesIO(sealed(plain)), keys) as reader:
        assert reader.seek(0, io.SEEK_END) == len(plain)
        for position, length in [(3 * CHUNK - 2, 10), (0, 1), (5 * CHUNK, 100), (17, CHUNK * 2)]:
            reader.seek(position)
            assert reader.read(length) == plain[position:position + length]


def header_length(data: bytes) -> int:
    return len(Header.read(io.BytesIO(data)).to_bytes())


def test_a_changed_byte_anywhere_fails_clearly():
    data = sealed(os.urandom(3 * CHUNK))
    for position in (header_length(data) + 5, len(data) - 1, 3, header_length(data) - 2):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(Unreadable):
            opened(bytes(damaged))


def test_truncation_at_a_chunk_boundary_and_reordering_fail():
    data = sealed(os.urandom(3 * CHUNK))
    start, size = header_length(data), CHUNK + TAG_BYTES
    chunks = [data[start + i * size:start + (i + 1) * size] for i in range(3)]
    with pytest.raises(Unreadable, match="fails authentication"):
        opened(data[:start + 2 * size])  # the last chunk dropped
    with pytest.raises(Unreadable, match="fails authentication"):
        opened(data[:start] + chunks[1] + chunks[0] + chunks[2])
    with pytest.raises(Unreadable):
        opened(data[:start + size + 3])  # cut inside a chunk


def test_an_abandoned_stream_never_opens(tmp_path):
    path = tmp_path / "upload"
    with pytest.raises(RuntimeError), SealingWriter(path.open("wb"), "k1", KEY,
                                                    chunk_bytes=CHUNK) as writer:
        writer.write(os.urandom(3 * CHUNK))
        raise RuntimeError("upload broke off")
    with pytest.raises(Unreadable):
        opened(path.read_bytes())


def test_plain_data_and_unknown_keys_are_refused():
    with pytest.raises(Unreadable, match="not sealed"):
        opened(b"just some bytes")
    with pytest.raises(Unreadable, match="no key k2"):
        unseal(seal(b"{}", "k2", KEY), keys)

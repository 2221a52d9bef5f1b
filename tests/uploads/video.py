"""An uncompressed video (YUV4MPEG2, 4:2:0) of any size, made a piece at a time from
its byte offset: never held whole in memory, and the same bytes however often read."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

WIDTH, HEIGHT = 1280, 720
HEADER = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F25:1 Ip A1:1 C420jpeg\n".encode()
FRAME_BYTES = len(b"FRAME\n") + WIDTH * HEIGHT * 3 // 2
_RAMP = np.tile(np.arange(WIDTH, dtype=np.uint8), HEIGHT)


def size_for(frames: int) -> int:
    return len(HEADER) + frames * FRAME_BYTES


def frame(index: int) -> bytes:
    """A ramp that moves a pixel a frame, over a chroma that changes with the index."""
    luma = np.roll(_RAMP, index).tobytes()
    chroma = bytes([(index * 7) % 256]) * (WIDTH * HEIGHT // 4)
    return b"FRAME\n" + luma + chroma + chroma


def pieces(start: int, end: int) -> Iterator[bytes]:
    """The video's bytes from ``start`` to ``end``, a frame (or less) at a time."""
    position = start
    while position < end:
        if position < len(HEADER):
            block, block_start = HEADER, 0
        else:
            index = (position - len(HEADER)) // FRAME_BYTES
            block, block_start = frame(index), len(HEADER) + index * FRAME_BYTES
        piece = block[position - block_start:end - block_start]
        yield piece
        position += len(piece)


def sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in pieces(0, size):
        digest.update(piece)
    return digest.hexdigest()

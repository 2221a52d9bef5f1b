"""Picture analyses: perceptual hashes (pHash, dHash) and dominant colours."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import load_image

_HASH_SIDE = 32  # pHash works on a 32x32 grey thumbnail...
_HASH_LOW = 8  # ...and keeps its 8x8 lowest frequencies
_WORKING_SIDE = 512  # decode big pictures at about this size: hashes and colours need no more
_COLOUR_SIDE = 128  # k-means sample: at most 128x128 pixels
_MAX_COLOURS = 5
_MERGE_DISTANCE = 24.0  # RGB distance under which two centres are the same colour
_MIN_SHARE = 0.015  # smaller clusters are edge blends or noise: counted with their neighbour
_KMEANS_SEED = 1770
_KMEANS_ROUNDS = 40


@cache
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II basis: the 2-D DCT of X is D @ X @ D.T."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    basis = np.sqrt(2 / n) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    basis[0] /= np.sqrt(2)
    return basis


def _grey_float(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("F")


def _resized(grey: np.ndarray | Image.Image, size: tuple[int, int]) -> np.ndarray:
    if isinstance(grey, np.ndarray):
        grey = Image.fromarray(np.asarray(grey, dtype=np.float32), mode="F")
    return np.asarray(grey.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)


def _hex(bits: np.ndarray) -> str:
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bit)
    return f"{value:0{bits.size // 4}x}"


def dhash_of_array(grey: np.ndarray) -> str:
    """64-bit difference hash (16 hex chars) of a 2-D grey array of any size and dtype.

    Bit set where a pixel of the 9x8 thumbnail is brighter than its left neighbour.
    """
    small = _resized(grey, (9, 8))
    return _hex(small[:, 1:] > small[:, :-1])


def phash_of_array(grey: np.ndarray) -> str:
    """64-bit DCT perceptual hash (16 hex chars) of a 2-D grey array.

    As in the original pHash: the 8x8 block of lowest frequencies next to (not
    including) the DC row and column, each bit set above the block's median.
    """
    small = _resized(grey, (_HASH_SIDE, _HASH_SIDE))
    basis = _dct_matrix(_HASH_SIDE)
    low = (basis @ small @ basis.T)[1 : _HASH_LOW + 1, 1 : _HASH_LOW + 1]
    return _hex(low > np.median(low))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths cannot be compared")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def phash(path: Path, _ctx: AnalysisContext | None = None) -> dict[str, Any]:
    loaded = load_image(path, max_side=_WORKING_SIDE)
    grey = np.asarray(_grey_float(loaded.image), dtype=np.float32)
    return {
        "phash": phash_of_array(grey),
        "dhash": dhash_of_array(grey),
        "width": loaded.width,
        "height": loaded.height,
    }


def colours(path: Path, _ctx: AnalysisContext | None = None) -> dict[str, Any]:
    loaded = load_image(path, max_side=_WORKING_SIDE)
    sample = loaded.image.copy()
    sample.thumbnail((_COLOUR_SIDE, _COLOUR_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(sample, dtype=np.float64).reshape(-1, 3)
    found = dominant_colours(pixels)
    return {
        "colours": [
            {"hex": "#{:02x}{:02x}{:02x}".format(*rgb), "rgb": list(rgb), "share": share}
            for rgb, share in found
        ],
        "width": loaded.width,
        "height": loaded.height,
    }


def dominant_colours(
    pixels: np.ndarray, k: int = _MAX_COLOURS
) -> list[tuple[tuple[int, int, int], float]]:
    """(colour, share) of up to k colours, largest share first; shares sum to 1."""
    values, counts = np.unique(pixels.astype(np.uint8), axis=0, return_counts=True)
    points, weights = values.astype(np.float64), counts.astype(np.float64)
    if len(points) <= k:
        centres, labels = points, np.arange(len(points))
    else:
        centres, labels = _kmeans(points, weights, k)
    shares = np.bincount(labels, weights=weights, minlength=len(centres)) / weights.sum()
    merged = _merge_close(centres, shares)
    return [
        (tuple(round(float(c)) for c in np.clip(centre, 0, 255)), round(float(share), 4))
        for centre, share in merged
    ]


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means (Lloyd) with a seeded k-means++ start: same input, same answer."""
    rng = np.random.default_rng(_KMEANS_SEED)
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        mass = weights * nearest
        if mass.sum() <= 0:
            break  # every point already sits on a centre
        centres.append(points[rng.choice(len(points), p=mass / mass.sum())])
        nearest = np.minimum(nearest, ((points - centres[-1]) ** 2).sum(axis=1))
    grid = np.array(centres)
    labels = np.full(len(points), -1)
    for _ in range(_KMEANS_ROUNDS):
        distances = ((points[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)
        new_labels = distances.argmin(axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for index in range(len(grid)):
            member = labels == index
            if member.any():  # an emptied centre keeps its place
                grid[index] = np.average(points[member], axis=0, weights=weights[member])
    return grid, labels


def _merge_close(centres: np.ndarray, shares: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Fold centres closer than _MERGE_DISTANCE into the larger one (share-weighted)."""
    kept: list[tuple[np.ndarray, float]] = []
    for index in np.argsort(-shares, kind="stable"):
        centre, share = centres[index], float(shares[index])
        if share <= 0:
            continue
        for slot, (other, other_share) in enumerate(kept):
            if np.linalg.norm(other - centre) < _MERGE_DISTANCE:
                total = other_share + share
                kept[slot] = ((other * other_share + centre * share) / total, total)
                break
        else:
            kept.append((centre, share))
    return sorted(_fold_specks(kept), key=lambda item: -item[1])


def _fold_specks(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Add each tiny cluster's share to the nearest real colour, leaving that colour as is."""
    real = [(centre, share) for centre, share in found if share >= _MIN_SHARE]
    if not real:
        return found
    shares = [share for _, share in real]
    for centre, share in found:
        if share < _MIN_SHARE:
            nearest = min(range(len(real)), key=lambda i: np.linalg.norm(real[i][0] - centre))
            shares[nearest] += share
    return [(centre, share) for (centre, _), share in zip(real, shares, strict=True)]

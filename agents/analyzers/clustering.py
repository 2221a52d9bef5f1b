"""Average-link clustering of embeddings by cosine distance: voices (speakers.py) and
faces (faces.py) are grouped into the people they belong to the same way, only their
thresholds differ."""

from __future__ import annotations

import numpy as np


def cluster(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """Average-link agglomerative clustering on cosine distance, merging while the two
    closest clusters lie nearer than ``threshold``: a cluster number per embedding.
    Every row keeps its nearest neighbour, so a merge updates rows, not the matrix."""
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    normed = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    distance = 1.0 - normed @ normed.T
    np.fill_diagonal(distance, np.inf)
    size = np.ones(n)
    owner = np.arange(n)  # item -> the cluster row that holds it
    near, gap = np.argmin(distance, axis=1), np.min(distance, axis=1)
    while True:
        i = int(np.argmin(gap))
        j = int(near[i])
        if gap[i] >= threshold:
            break
        # Lance-Williams for average link: the merged row is the size-weighted mean.
        merged = (size[i] * distance[i] + size[j] * distance[j]) / (size[i] + size[j])
        distance[i], distance[:, i] = merged, merged
        distance[i, i] = np.inf
        distance[j], distance[:, j] = np.inf, np.inf
        size[i] += size[j]
        owner[owner == j] = i
        gap[j] = np.inf
        stale = np.flatnonzero((near == i) | (near == j))
        stale = np.union1d(stale, [i])
        near[stale] = np.argmin(distance[stale], axis=1)
        gap[stale] = distance[stale, near[stale]]
        closer = distance[:, i] < gap
        near[closer], gap[closer] = i, distance[closer, i]
        gap[j] = np.inf
    return owner

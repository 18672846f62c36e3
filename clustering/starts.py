"""Shared starts: k-means++ centres drawn once and given to every k-means backend.

Under ``[shared_starts]`` (see the grid config) the suite draws the starting centres of each
(features, k, seed) once, with scikit-learn's ``kmeans_plusplus`` seeded by the seed, and every
backend that ``accepts_init`` runs the same fixed number of Lloyd iterations from them. The same
algorithm from the same start then ends at the same WCSS up to float rounding, and what differs
between the libraries is their speed.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_bench.clustering.base import as_rows


def kmeans_plusplus_start(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ centres of the rows of ``X`` (``sklearn.cluster.kmeans_plusplus``), float32.

    Drawn on one thread, so a seed gives the same centres whatever the grid's thread count (and
    its products, the distances of a few candidates at a time, are too small for a second
    thread: on a busy machine one took several times longer with two).
    """
    from sklearn.cluster import kmeans_plusplus

    rows = as_rows(X)
    with threadpool_limits(limits=1):
        centres, _ = kmeans_plusplus(rows, k, random_state=seed)
    return np.ascontiguousarray(centres, dtype=np.float32)

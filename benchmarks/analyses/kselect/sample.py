"""Scores that choose k without labels, computed on one fixed, seeded sample of the points.

The silhouette needs the distance between every pair of points, too much for 70,000 of them:
:class:`SampleScores` draws a seeded sample of :data:`SAMPLE_SIZE` points of a feature matrix
(all of them when there are fewer), computes their pairwise Euclidean distances once, and scores
every clustering of those features (every backend, every k) from them, the clusterings of a
cell's k sweep together (:meth:`SampleScores.many`). Calinski-Harabasz and
Davies-Bouldin are computed on the same sample, so the three scores describe the same points.

The functions equal scikit-learn's on the sample up to float rounding (the tests check it):
:func:`silhouette` is ``silhouette_score(D, labels, metric="precomputed")``,
:func:`calinski_harabasz_davies_bouldin` is ``calinski_harabasz_score`` and
``davies_bouldin_score``. They are written as a few matrix products over the one-hot labels
rather than scikit-learn's loop over the sample's rows, which makes them several times faster
(the k sweep scores hundreds of clusterings).

:func:`ward_linkage` gives the dendrogram of a smaller seeded sample (Ward's linkage, scipy).
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

#: Points in the sample the silhouette and the other scores are computed on.
SAMPLE_SIZE = 10_000
#: Points in the sample of a dendrogram.
LINKAGE_SIZE = 2_000
#: Seed of both samples (fixed: every run scores the same points).
SAMPLE_SEED = 0


def sample_index(n: int, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Sorted positions of a seeded sample of ``size`` of ``n`` points (all when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def sample_distances(rows: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows, float32 ``[m, m]`` with an exact zero diagonal.

    By the expansion scikit-learn's ``euclidean_distances`` uses, sqrt(|x|^2 - 2 x.y + |y|^2),
    in float32 throughout (scikit-learn upcasts blocks to float64, twice as slow here); the
    distances differ from scikit-learn's by about 1e-5 (tested). One ``[m, m]`` array in all.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    norms = np.einsum("ij,ij->i", rows, rows)
    distances = rows @ rows.T
    distances *= -2
    distances += norms[:, None]
    distances += norms[None, :]
    np.maximum(distances, 0, out=distances)
    np.sqrt(distances, out=distances)
    np.fill_diagonal(distances, 0)
    return distances


def _one_hot(labels: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cluster of each row in 0..m-1, size of each of the m clusters present, one-hot)``."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    one_hot = np.zeros((len(inverse), len(counts)), dtype=dtype)
    one_hot[np.arange(len(inverse)), inverse] = 1
    return inverse, counts, one_hot


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette of ``labels`` from the square matrix ``distances`` of their points.

    NaN unless 2 <= clusters <= points - 1 (where scikit-learn refuses); a point alone in its
    cluster scores 0, as in scikit-learn.
    """
    return silhouettes(distances, [labels])[0]


def silhouettes(distances: np.ndarray, labelings: list[np.ndarray]) -> list[float]:
    """:func:`silhouette` of each of several labelings of the same points, from one product.

    The summed distance of each point to the points of each cluster, for every labeling at once:
    the one-hot rows of all labelings stacked ``[sum of cluster counts, n]`` times the
    (symmetric) distances. One pass over ``distances`` instead of one per labeling: the k sweep
    of a cell (14 labelings) scores about 2 times faster (docs/measurements.md).
    """
    encoded = [_one_hot(labels, distances.dtype) for labels in labelings]
    stacked = np.concatenate([one_hot for _, _, one_hot in encoded], axis=1)
    # [n, sum m]; as one-hot.T @ distances, which BLAS does a third faster than distances @ one_hot
    sums = (np.ascontiguousarray(stacked.T) @ distances).T.astype(np.float64)
    scores, at = [], 0
    for inverse, counts, _ in encoded:
        n, m = len(inverse), len(counts)
        part, at = sums[:, at : at + m], at + m
        scores.append(_mean_silhouette(part, inverse, counts) if 2 <= m <= n - 1 else math.nan)
    return scores


def _mean_silhouette(sums: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> float:
    """The mean silhouette from each point's summed distance to each cluster ``[n, m]``."""
    rows = np.arange(len(inverse))
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = sums[rows, inverse] / (counts[inverse] - 1)
        means = sums / counts
        means[rows, inverse] = np.inf
        inter = means.min(axis=1)
        values = (inter - intra) / np.maximum(intra, inter)
    return float(np.nan_to_num(values).mean())


def calinski_harabasz_davies_bouldin(rows: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Calinski-Harabasz (higher is better) and Davies-Bouldin (lower is better) of ``labels``.

    Both from the means of the clusters of ``rows`` (float64 sums); NaN unless
    2 <= clusters <= points - 1.
    """
    rows = np.asarray(rows, dtype=np.float64)
    inverse, counts, one_hot = _one_hot(labels, np.float64)
    n, m = len(inverse), len(counts)
    if not 2 <= m <= n - 1:
        return math.nan, math.nan
    means = (one_hot.T @ rows) / counts[:, None]
    # squared distance of each point to its cluster's mean, without an [n, d] temporary
    near = (rows @ means.T)[np.arange(n), inverse]
    squared = np.einsum("ij,ij->i", rows, rows) - 2 * near + (means**2).sum(axis=1)[inverse]
    np.maximum(squared, 0, out=squared)
    within = float(squared.sum())
    centre = counts @ means / n
    between = float((counts * ((means - centre) ** 2).sum(axis=1)).sum())
    ch = 1.0 if within == 0.0 else between * (n - m) / (within * (m - 1.0))
    spread = np.bincount(inverse, weights=np.sqrt(squared), minlength=m) / counts
    gaps = np.sqrt(np.maximum(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), 0.0))
    if np.allclose(spread, 0) or np.allclose(gaps, 0):
        return float(ch), 0.0
    gaps[gaps == 0] = np.inf
    db = float(np.max((spread[:, None] + spread[None, :]) / gaps, axis=1).mean())
    return float(ch), db


class SampleScores:
    """The k-selection scores of clusterings of one feature matrix ``X``, on one seeded sample.

    The sample's rows and their pairwise distances are computed at the first call and reused by
    every later one. The distances and the silhouettes' product of :meth:`many` use ``threads``
    BLAS threads; the other products of a call are small and run on one thread (on a busy
    machine a second BLAS thread made them several times slower).
    """

    def __init__(
        self, X: np.ndarray, threads: int = 1, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED
    ) -> None:
        self.X = X
        self.threads = threads
        self.index = sample_index(len(X), size, seed)
        self._rows: np.ndarray | None = None
        self._distances: np.ndarray | None = None

    def distances(self) -> np.ndarray:
        """The sample's pairwise distances (computed once)."""
        if self._distances is None:
            with threadpool_limits(limits=max(1, self.threads)):
                self._distances = sample_distances(self.X[self.index])
        return self._distances

    def __call__(self, labels: np.ndarray) -> dict[str, float]:
        """``silhouette``, ``calinski_harabasz`` and ``davies_bouldin`` of a clustering of all
        of ``X`` (``labels``: one per row), on the sample."""
        return self.many([labels])[0]

    def many(self, labelings: list[np.ndarray]) -> list[dict[str, float]]:
        """The scores of several clusterings of ``X`` (the silhouettes from one product)."""
        if not labelings:
            return []
        distances = self.distances()
        if self._rows is None:
            self._rows = np.asarray(self.X[self.index], dtype=np.float64)
        parts = [np.asarray(labels)[self.index] for labels in labelings]
        # the silhouettes' one product is large: ``threads`` threads (twice as fast with two)
        with threadpool_limits(limits=max(1, self.threads)):
            values = silhouettes(distances, parts)
        with threadpool_limits(limits=1):
            scores = []
            for part, value in zip(parts, values, strict=True):
                ch, db = calinski_harabasz_davies_bouldin(self._rows, part)
                scores.append({"silhouette": value, "calinski_harabasz": ch, "davies_bouldin": db})
        return scores


def ward_linkage(
    X: np.ndarray, size: int = LINKAGE_SIZE, seed: int = SAMPLE_SEED, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Ward's linkage (scipy) of a seeded sample of the rows of ``X``: ``(Z, sample positions)``."""
    from scipy.cluster.hierarchy import linkage

    index = sample_index(len(X), size, seed)
    with threadpool_limits(limits=max(1, threads)):
        Z = linkage(np.asarray(X[index], dtype=np.float64), method="ward")
    return Z, index

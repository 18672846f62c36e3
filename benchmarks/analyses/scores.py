"""The scores of every clustering, whatever its backend: against the true labels, and its WCSS.

The grid scores each fit with :func:`scores` and :func:`wcss` (the names and headers of the
scores are in :mod:`mnist_bench.core.vocabulary`).

``purity`` is the standard, size-weighted one; ``macro_purity`` is the seed blog's "accuracy" (the
unweighted mean of per-cluster purities), kept so its published figures can be compared; ``acc``
is the Hungarian-matched accuracy (each cluster assigned to a distinct label); ``nmi`` and ``ari``
are scikit-learn's ``normalized_mutual_info_score`` and ``adjusted_rand_score``.

Every score is computed from one contingency table, counted once per row (scikit-learn's
functions count it again, twice each): NMI through scikit-learn's ``mutual_info_score`` on that
table with the entropies of its margins, ARI from its pair counts in integers, both with
scikit-learn's own formulas and special cases, so the values are bit for bit theirs (the tests
compare them).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from mnist_bench.clustering.base import NOISE
from mnist_bench.core.vocabulary import CLUSTERED_METRICS


def purity_from_table(table: np.ndarray, n: int | None = None) -> float:
    """Sum over clusters of the largest true-label count, over n (the table's total unless
    given: points outside the table count as wrong). ``table``: [labels, clusters]."""
    return float(table.max(axis=0).sum() / (table.sum() if n is None else n))


def macro_purity_from_table(table: np.ndarray) -> float:
    """Unweighted mean over non-empty clusters of (largest true-label count / cluster size)."""
    sizes = table.sum(axis=0)
    keep = sizes > 0
    return float(np.mean(table.max(axis=0)[keep] / sizes[keep]))


def hungarian_acc_from_table(table: np.ndarray, n: int | None = None) -> float:
    """Accuracy under the best one-to-one matching of clusters to labels, over n (as for
    :func:`purity_from_table`)."""
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / (table.sum() if n is None else n))


def contingency(labels_true: np.ndarray, labels_pred: np.ndarray) -> np.ndarray:
    """Counts ``[classes, clusters]`` (int64), as scikit-learn's ``contingency_matrix``.

    Rows are the classes present, columns the clusters present, both in sorted order. Small
    non-negative integer labels (digits, cluster indices) are counted in one ``bincount``.
    """
    y, p = np.asarray(labels_true), np.asarray(labels_pred)
    if not (_small_ints(y) and _small_ints(p)) or len(y) != len(p):
        return contingency_matrix(y, p)
    y_index, n_classes = _dense(y)
    p_index, n_clusters = _dense(p)
    counts = np.bincount(y_index * n_clusters + p_index, minlength=n_classes * n_clusters)
    return counts.reshape(n_classes, n_clusters).astype(np.int64, copy=False)


def _small_ints(labels: np.ndarray) -> bool:
    return (
        labels.ndim == 1
        and len(labels) > 0
        and np.issubdtype(labels.dtype, np.integer)
        and int(labels.min()) >= 0
        and int(labels.max()) < 1 << 20
    )


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Each label's rank among the labels present (0..m-1), and m."""
    present = np.bincount(labels) > 0
    rank = np.cumsum(present) - 1
    return rank[labels], int(present.sum())


def _entropy(counts: np.ndarray) -> float:
    """scikit-learn's entropy of a labelling, from its label counts (in sorted label order)."""
    pi = counts.astype(np.float64)
    if pi.size == 1:
        return 0.0
    pi_sum = np.sum(pi)
    return float(-np.sum((pi / pi_sum) * (np.log(pi) - math.log(pi_sum))))


def nmi_from_table(table: np.ndarray) -> float:
    """scikit-learn's ``normalized_mutual_info_score`` (arithmetic mean) of a contingency table."""
    if table.shape[0] == table.shape[1] == 1 or table.size == 0:
        return 1.0
    mi = mutual_info_score(None, None, contingency=table)
    if mi == 0:
        return 0.0
    h_true, h_pred = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    return float(mi / np.mean([h_true, h_pred]))


def ari_from_table(table: np.ndarray) -> float:
    """scikit-learn's ``adjusted_rand_score`` of a contingency table (pair counts in integers)."""
    n = int(table.sum())
    sum_squares = int((table.astype(np.int64) ** 2).sum())
    n_c, n_k = table.sum(axis=1), table.sum(axis=0)
    tp = sum_squares - n
    fp = int((table @ n_k).sum()) - sum_squares
    fn = int((table.T @ n_c).sum()) - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def scores(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    """All label-based scores of a clustering: purity, macro_purity, acc, nmi, ari, and how
    many clusters it has and what share of the points it left as noise (label :data:`NOISE`).

    Over all points, noise counts as wrong for purity, macro purity and acc (it is matched to
    no digit and is no cluster), and as one cluster more for nmi and ari (the convention of
    umap-learn's documentation and of clustbench). ``*_clustered``: the same over the points
    in a cluster only. Without noise both are the same numbers.
    """
    table = contingency(labels_true, labels_pred)
    noisy = bool(np.any(np.asarray(labels_pred) == NOISE))
    clustered = table[:, 1:] if noisy else table  # the noise column comes first (sorted)
    n = int(table.sum())
    found = {
        "purity": purity_from_table(clustered, n),
        "macro_purity": macro_purity_from_table(clustered),
        "acc": hungarian_acc_from_table(clustered, n),
        "nmi": nmi_from_table(table),
        "ari": ari_from_table(table),
        "clusters": int((clustered.sum(axis=0) > 0).sum()),
        "noise": float((n - clustered.sum()) / n),
    }
    if not noisy:  # bit for bit the scores over all points
        return found | {name: found[name.removesuffix("_clustered")] for name in CLUSTERED_METRICS}
    return found | {
        "acc_clustered": hungarian_acc_from_table(clustered),
        "nmi_clustered": nmi_from_table(clustered),
        "ari_clustered": ari_from_table(clustered),
    }


def wcss(X: np.ndarray, labels: np.ndarray, centers: np.ndarray, chunk: int = 16384) -> float:
    """Sum of squared distances of every row of ``X`` to its assigned centre (float64 sums).

    Chunks of ``chunk`` rows, each summed by one ``einsum`` over its float64 differences, the
    chunk sums added in row order (the chunking and the order fix the last bits of the
    result). The differences of a chunk are written a few hundred rows at a time into one
    buffer, which is kept for the next call with the same shape (the grid calls this hundreds
    of times on the same features: a fresh buffer each time costs more in page faults than
    the sums themselves).
    """
    centers64 = np.asarray(centers, dtype=np.float64)
    diff = _buffer((min(chunk, len(X)), X.shape[1]))
    total = 0.0
    for start in range(0, len(X), chunk):
        rows, assigned = X[start : start + chunk], labels[start : start + chunk]
        block = diff[: len(rows)]
        for at in range(0, len(rows), _ROWS):
            out = block[at : at + _ROWS]
            out[...] = rows[at : at + _ROWS]
            out -= centers64[assigned[at : at + _ROWS]]
        total += float(np.einsum("ij,ij->", block, block))
    return total


#: Rows of differences made at a time inside a chunk (small enough to stay in the CPU cache).
_ROWS = 512
_SCRATCH = threading.local()


def _buffer(shape: tuple[int, int]) -> np.ndarray:
    """A float64 array of ``shape``: the one this thread used last when the shape is the same."""
    kept = getattr(_SCRATCH, "buffer", None)
    if kept is None or kept.shape != shape:
        _SCRATCH.buffer = kept = np.empty(shape, dtype=np.float64)
    return kept

"""Clustering scores against the true labels, and WCSS computed by the suite from the centres.

``purity`` is the standard, size-weighted one; ``macro_purity`` is the seed blog's "accuracy" (the
unweighted mean of per-cluster purities), kept so its published figures can be compared; ``acc``
is the Hungarian-matched accuracy (each cluster assigned to a distinct label).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

METRICS = ("purity", "macro_purity", "acc", "nmi", "ari")


def purity_from_table(table: np.ndarray) -> float:
    """Sum over clusters of the largest true-label count, over n. ``table``: [labels, clusters]."""
    return float(table.max(axis=0).sum() / table.sum())


def macro_purity_from_table(table: np.ndarray) -> float:
    """Unweighted mean over non-empty clusters of (largest true-label count / cluster size)."""
    sizes = table.sum(axis=0)
    keep = sizes > 0
    return float(np.mean(table.max(axis=0)[keep] / sizes[keep]))


def hungarian_acc_from_table(table: np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of clusters to labels."""
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def scores(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    """All label-based scores of a clustering: purity, macro_purity, acc, nmi, ari."""
    table = contingency_matrix(labels_true, labels_pred)
    return {
        "purity": purity_from_table(table),
        "macro_purity": macro_purity_from_table(table),
        "acc": hungarian_acc_from_table(table),
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
    }


def wcss(X: np.ndarray, labels: np.ndarray, centers: np.ndarray, chunk: int = 16384) -> float:
    """Sum of squared distances of every row of ``X`` to its assigned centre (float64 sums)."""
    total = 0.0
    for start in range(0, len(X), chunk):
        diff = X[start : start + chunk].astype(np.float64) - centers[labels[start : start + chunk]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total

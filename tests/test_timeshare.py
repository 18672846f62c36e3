"""Where the time goes (issue 13): the suite's own work is measured, recorded and rendered, and
the faster ways it now does that work give the same values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from mnist_bench.clustering.metrics import contingency, scores, wcss


def _wcss_before(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """WCSS as the suite computed it before issue 13 (the values must not change)."""
    total = 0.0
    for start in range(0, len(X), 16384):
        diff = X[start : start + 16384].astype(np.float64) - centers[labels[start : start + 16384]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


@pytest.mark.parametrize(
    ("n", "d", "k"), [(1, 3, 1), (700, 5, 3), (16384, 7, 4), (16385, 64, 10), (40000, 784, 14)]
)
def test_wcss_is_bit_for_bit_the_same(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n)
    scale = rng.choice([1e-3, 1.0, 1e4], size=(n, 1))
    X = (rng.standard_normal((n, d)) * scale).astype(np.float32)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    labels = rng.integers(0, k, n)
    assert wcss(X, labels, centers) == _wcss_before(X, labels, centers)
    assert wcss(X[: n // 2 + 1], labels[: n // 2 + 1], centers) == _wcss_before(
        X[: n // 2 + 1], labels[: n // 2 + 1], centers
    )  # another shape after the kept buffer


def _scores_before(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    table = contingency_matrix(y, p)
    sizes = table.sum(axis=0)
    keep = sizes > 0
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(table, maximize=True)
    return {
        "purity": float(table.max(axis=0).sum() / table.sum()),
        "macro_purity": float(np.mean(table.max(axis=0)[keep] / sizes[keep])),
        "acc": float(table[rows, cols].sum() / table.sum()),
        "nmi": float(normalized_mutual_info_score(y, p)),
        "ari": float(adjusted_rand_score(y, p)),
    }


def test_scores_are_scikit_learns_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    cases = []
    for i in range(400):
        n = int(rng.integers(1, 200))
        y = rng.integers(0, int(rng.integers(1, 11)), n) * int(rng.choice([1, 7]))
        p = rng.integers(0, int(rng.integers(1, 15)), n)
        if i % 5 == 0:
            p = y.copy()  # perfect
        if i % 7 == 0:
            p = np.zeros(n, dtype=np.int64)  # one cluster
        if i % 9 == 0:
            y = np.zeros(n, dtype=np.int64)  # one class
        cases.append((y, p))
    y = rng.integers(0, 10, 70000)
    cases.append((y, np.where(rng.random(70000) < 0.7, y, rng.integers(0, 14, 70000))))
    cases.append((y.astype(np.int16), rng.integers(0, 10, 70000).astype(np.int32)))
    cases.append((np.array([-3, 5, 5, 9]), np.array([2, 2, -1, 0])))  # the general path
    for y, p in cases:
        assert scores(y, p) == _scores_before(y, p)
        assert np.array_equal(contingency(y, p), contingency_matrix(y, p))

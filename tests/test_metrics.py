"""Metrics on hand-checked contingency tables."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mnist_bench.analyses.scores import scores, wcss


def test_purity_and_macro_purity_differ_on_unequal_clusters() -> None:
    # cluster 0: four 0s and four 1s (purity 1/2); cluster 1: two 1s (purity 1)
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    pred = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    s = scores(true, pred)
    assert s["purity"] == pytest.approx(6 / 10)
    assert s["macro_purity"] == pytest.approx((4 / 8 + 2 / 2) / 2)
    assert s["acc"] == pytest.approx(6 / 10)


def test_two_clusters_sharing_a_majority_label_make_purity_exceed_acc() -> None:
    true = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 0, 1, 1, 2, 2])  # clusters 0 and 1 are both all-zero
    s = scores(true, pred)
    assert s["purity"] == pytest.approx(1.0)
    assert s["macro_purity"] == pytest.approx(1.0)
    # one-to-one: only one of clusters 0/1 may count as digit 0
    assert s["acc"] == pytest.approx(4 / 6)


def test_three_by_three_table() -> None:
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0])
    s = scores(true, pred)
    assert s["purity"] == pytest.approx(7 / 9)
    assert s["macro_purity"] == pytest.approx((2 / 3 + 2 / 3 + 3 / 3) / 3)
    assert s["acc"] == pytest.approx(7 / 9)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(true, pred))
    assert s["ari"] == pytest.approx(adjusted_rand_score(true, pred))


def test_hungarian_finds_the_permutation() -> None:
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([2, 2, 0, 0, 1, 1, 0])
    s = scores(true, pred)
    assert s["acc"] == pytest.approx(6 / 7)
    perfect = scores(true, (true + 1) % 3)
    assert perfect == pytest.approx(
        {"purity": 1, "macro_purity": 1, "acc": 1, "nmi": 1, "ari": 1, "clusters": 3, "noise": 0}
        | {"acc_clustered": 1, "nmi_clustered": 1, "ari_clustered": 1}
    )


def test_noise_is_wrong_for_acc_and_purity_and_one_cluster_for_nmi_and_ari() -> None:
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    pred = np.array([5, 5, 5, -1, 7, 7, -1, 7, 5, -1])  # three points left as noise
    s = scores(true, pred)
    assert (s["clusters"], s["noise"]) == (2, pytest.approx(0.3))
    # clusters 5 (three 0s, one 2) and 7 (three 1s): 6 of the 10 points right
    assert s["acc"] == pytest.approx(6 / 10) and s["purity"] == pytest.approx(6 / 10)
    assert s["macro_purity"] == pytest.approx((3 / 4 + 3 / 3) / 2)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(true, pred))
    assert s["ari"] == pytest.approx(adjusted_rand_score(true, pred))
    kept = pred != -1
    assert s["acc_clustered"] == pytest.approx(6 / 7)
    assert s["nmi_clustered"] == pytest.approx(normalized_mutual_info_score(true[kept], pred[kept]))
    assert s["ari_clustered"] == pytest.approx(adjusted_rand_score(true[kept], pred[kept]))


def test_single_cluster_purity_is_the_commonest_share() -> None:
    true = np.array([3, 3, 3, 1, 2])
    s = scores(true, np.zeros(5, dtype=int))
    assert s["purity"] == pytest.approx(3 / 5)
    assert s["acc"] == pytest.approx(3 / 5)
    assert s["nmi"] == pytest.approx(0.0)


def test_wcss_by_hand() -> None:
    X = np.array([[0, 0], [2, 0], [10, 10], [10, 12]], dtype=np.float32)
    centers = np.array([[1, 0], [10, 11]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    # (1 + 1) + (1 + 1)
    assert wcss(X, labels, centers) == pytest.approx(4.0)
    assert wcss(X, labels, centers, chunk=1) == pytest.approx(4.0)


def test_wcss_of_a_backend_fit_is_its_inertia() -> None:
    from sklearn.datasets import make_blobs

    from mnist_bench import clustering

    X, y = make_blobs(n_samples=200, centers=3, n_features=4, random_state=0)
    X = X.astype(np.float32)
    model = clustering.make("sklearn", n_clusters=3, seed=0, threads=1).fit(X)
    labels = model.predict(X)
    assert wcss(X, labels, model.cluster_centers_) == pytest.approx(model.model_.inertia_, rel=1e-5)
    assert scores(y, labels)["acc"] == pytest.approx(1.0)

"""The ``dask`` backend: same partition as scikit-learn on separated blobs, numpy out, cleanup;
the suite's Lloyd loop against scikit-learn's and dask-ml's from the same start.

dask-ml pays a scheduler round trip per k-means|| step, so the fits other than the
scikit-learn comparison cap the k-means|| rounds (``init_max_iter``) to stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask_ml")
distributed = pytest.importorskip("distributed")

from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from mnist_bench import clustering  # noqa: E402
from mnist_bench.clustering.dask_kmeans import DaskKMeans, chunk_rows  # noqa: E402


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=3000, centers=5, n_features=8, cluster_std=0.4, random_state=1)
    return X.astype(np.float32), y


def _no_client_left() -> bool:
    from distributed.client import _get_global_client

    return _get_global_client() is None


def test_same_partition_as_sklearn(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    ref = clustering.make("sklearn", n_clusters=5, seed=0, threads=1).fit(X)
    model = clustering.make("dask", n_clusters=5, seed=0, threads=2).fit(X)
    assert adjusted_rand_score(ref.labels_, model.labels_) == 1.0
    assert adjusted_rand_score(y, model.labels_) == 1.0
    labels = model.predict(X)
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.shape == (len(X),)
    np.testing.assert_array_equal(labels, model.labels_)
    assert isinstance(model.labels_, np.ndarray) and model.labels_.dtype == np.int64
    centers = model.cluster_centers_
    assert isinstance(centers, np.ndarray) and centers.dtype == np.float32
    assert centers.shape == (5, X.shape[1])
    assert model.n_iter_ >= 1
    assert _no_client_left()


def test_same_seed_same_result(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    a = DaskKMeans(n_clusters=5, seed=3, threads=1, init_max_iter=3).fit(X)
    b = DaskKMeans(n_clusters=5, seed=3, threads=2, init_max_iter=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5)


def test_connects_to_a_given_scheduler(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        model = DaskKMeans(n_clusters=5, seed=0, scheduler=address, init_max_iter=3).fit(X)
        assert adjusted_rand_score(y, model.labels_) == 1.0
        assert cluster.status.name == "running"  # the backend closes its client, not the cluster


def test_cluster_closed_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import dask_ml.cluster

    X = np.random.default_rng(0).random((100, 3), dtype=np.float32)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("dask-ml failed")

    monkeypatch.setattr(dask_ml.cluster.KMeans, "fit", fail)
    with pytest.raises(RuntimeError, match="dask-ml failed"):
        DaskKMeans(n_clusters=2, threads=1, lloyd="dask-ml").fit(X)
    assert _no_client_left()
    monkeypatch.setattr(dask_ml.cluster.k_means, "k_init", fail)
    with pytest.raises(RuntimeError, match="dask-ml failed"):
        DaskKMeans(n_clusters=2, threads=1).fit(X)
    assert _no_client_left()


def test_bad_input_and_parameters_fail_before_a_cluster_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    X = np.ones((100, 3), dtype=np.float32)
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DaskKMeans(n_clusters=2, threads=1).fit(X)
    with pytest.raises(ValueError, match="'max_iter' parameter of DaskKMeans"):
        DaskKMeans(n_clusters=2, max_iter=0).fit(np.ones((100, 3)))
    assert _no_client_left()


def test_get_params_and_registry() -> None:
    model = clustering.make("dask", n_clusters=3, seed=1, threads=2, scheduler=None)
    params = model.get_params()
    assert params["n_clusters"] == 3 and params["scheduler"] is None
    assert params["threads"] == 2 and params["processes"] is False
    assert "n_threads" not in params


def test_chunks_depend_on_shape_only() -> None:
    assert chunk_rows(70_000, 784 * 4) == 4375
    assert chunk_rows(1_000_000, 784 * 4) == (32 << 20) // (784 * 4)
    assert chunk_rows(5, 4) == 1


def test_weighted_init_same_partition(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    model = DaskKMeans(n_clusters=5, seed=0, threads=2, init="k-means||-weighted").fit(X)
    assert adjusted_rand_score(y, model.labels_) == 1.0
    with pytest.raises(ValueError, match="'init' parameter of DaskKMeans must be a str among"):
        DaskKMeans(n_clusters=5, init="k-means++").fit(X)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)


def _sklearn_from(X: np.ndarray, start: np.ndarray, iterations: int) -> object:
    from sklearn.cluster import KMeans

    return KMeans(len(start), init=start, n_init=1, max_iter=iterations, tol=0.0).fit(X)


def test_suite_lloyd_matches_sklearn_from_the_same_start(digits: np.ndarray) -> None:
    start = digits[np.random.default_rng(0).choice(len(digits), 10, replace=False)]
    for iterations in (1, 7):
        ref = _sklearn_from(digits, start, iterations)
        params = DaskKMeans.start_params(start, iterations)
        ours = DaskKMeans(n_clusters=10, threads=2, **params).fit(digits)
        assert ours.n_iter_ == ref.n_iter_ == iterations
        np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-5)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)


def test_suite_and_dask_ml_loops_agree(digits: np.ndarray) -> None:
    """The same start (dask-ml's k-means||) and stopping rule: the same partition and centres."""
    kw = {"n_clusters": 10, "seed": 2, "threads": 2, "init_max_iter": 3}
    ours = DaskKMeans(**kw).fit(digits)
    theirs = DaskKMeans(**kw, lloyd="dask-ml").fit(digits)
    assert adjusted_rand_score(ours.labels_, theirs.labels_) == 1.0
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-4)
    assert ours.n_iter_ == theirs.n_iter_


def test_tolerance_is_relative_to_the_data(digits: np.ndarray) -> None:
    """As in scikit-learn, ``tol`` scales with the data's variance: scaled rows, same fit."""
    kw = {"n_clusters": 10, "seed": 0, "threads": 1, "init_max_iter": 3, "tol": 1e-3}
    one = DaskKMeans(**kw).fit(digits)
    scaled = DaskKMeans(**kw).fit(digits * np.float32(64.0))
    assert 1 < one.n_iter_ < 300
    assert scaled.n_iter_ == one.n_iter_
    np.testing.assert_array_equal(scaled.labels_, one.labels_)

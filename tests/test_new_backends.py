"""The backends beyond k-means: ``hdbscan`` (density), ``ward`` (hierarchical), ``spectral``
(graph) and ``minibatch`` (mini-batch k-means), on small blobs.

Each clusters well separated blobs exactly; HDBSCAN finds their number and leaves scattered rows
as noise (-1), with the clusters of scikit-learn's own HDBSCAN; Ward's joined graph gives
scikit-learn's structured Ward; the flags the grid reads hold; a hostile parameter is refused
in one line when the grid's config is read, before any work. (scikit-learn's estimator checks
and the plug-in contract run on them in tests/test_estimators.py and tests/test_contract.py.)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from mnist_bench import clustering
from mnist_bench.analyses.scores import scores
from mnist_bench.clustering.base import NOISE, cluster_means
from mnist_bench.core.errors import UserError
from mnist_bench.core.params import InvalidParameterError
from mnist_bench.grid import config

NEW = ["hdbscan", "ward", "spectral", "minibatch"]
#: HDBSCAN at the blobs' scale (its default clusters have 2,000 rows at least)
SMALL = {"min_cluster_size": 30, "min_samples": 10}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(
        n_samples=800,
        centers=5,
        n_features=6,
        cluster_std=0.6,
        random_state=3,
        center_box=(-20, 20),
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def noisy(blobs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The blobs and 60 rows scattered uniformly over a box around them (the last 60)."""
    X, _ = blobs
    scattered = np.random.default_rng(0).uniform(-25, 25, size=(60, X.shape[1]))
    return np.vstack([X, scattered.astype(np.float32)])


def _make(name: str, **params: Any) -> Any:
    """Backend ``name`` as the grid makes it (``n_clusters`` = 5 unless it chooses k)."""
    klass = clustering.BACKENDS.load(name)
    grid: dict[str, Any] = {"seed": 0, "threads": 2}
    grid |= SMALL if klass.chooses_k else {"n_clusters": 5}
    return clustering.make(name, **grid | params)


@pytest.mark.parametrize("name", NEW)
def test_each_clusters_separated_blobs(name: str, blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    model = _make(name).fit(X)
    assert scores(y, model.labels_)["ari"] == 1.0
    assert model.n_clusters_ == 5 and model.cluster_centers_.shape == (5, X.shape[1])
    assert model.cluster_centers_.dtype == np.float32 and model.labels_.dtype == np.int64
    assert model.objective == "wcss" and model.n_iter_ >= 1
    if model.transductive:  # centres of their own: none; the mean of each cluster's rows
        means = [X[model.labels_ == c].mean(axis=0) for c in range(5)]
        np.testing.assert_allclose(model.cluster_centers_, means, rtol=1e-5, atol=1e-5)
    # predict: the nearest centre, the fit's labels on blobs this clear
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_the_flags_the_grid_reads() -> None:
    expected = {  # chooses_k, deterministic, transductive
        "hdbscan": (True, True, True),
        "ward": (False, True, True),
        "spectral": (False, False, True),
        "minibatch": (False, False, False),
        "sklearn": (False, False, False),
        "gmm": (False, False, False),
    }
    for name, flags in expected.items():
        klass = clustering.BACKENDS.load(name)
        assert (klass.chooses_k, klass.deterministic, klass.transductive) == flags, name
    assert not any(clustering.BACKENDS.load(name).accepts_init for name in NEW)
    # a backend that chooses k has no n_clusters; the others have
    assert "n_clusters" not in clustering.make("hdbscan").get_params()
    assert all("n_clusters" in clustering.make(name).get_params() for name in NEW[1:])


@pytest.mark.parametrize("name", ["hdbscan", "ward"])
def test_a_deterministic_backend_ignores_the_seed(name: str, noisy: np.ndarray) -> None:
    first = _make(name, seed=0).fit(noisy)
    other = _make(name, seed=12345).fit(noisy)
    np.testing.assert_array_equal(first.labels_, other.labels_)
    np.testing.assert_array_equal(first.cluster_centers_, other.cluster_centers_)


def test_hdbscan_finds_the_blobs_and_leaves_scattered_rows_as_noise(
    blobs: tuple[np.ndarray, np.ndarray], noisy: np.ndarray
) -> None:
    X, y = blobs
    model = _make("hdbscan").fit(noisy)
    labels = model.labels_
    assert model.n_clusters_ == 5 and model.cluster_centers_.shape == (5, X.shape[1])
    assert labels.min() == NOISE and set(np.unique(labels)) == {NOISE, 0, 1, 2, 3, 4}
    assert (labels[len(X) :] == NOISE).mean() > 0.75  # the scattered rows (a few land by a blob)
    in_blobs = labels[: len(X)]
    assert (in_blobs == NOISE).mean() < 0.05
    kept = in_blobs != NOISE
    assert adjusted_rand_score(y[kept], in_blobs[kept]) == 1.0
    # the centres leave the noise out
    clustered = labels != NOISE
    expected, _ = cluster_means(noisy[clustered], labels[clustered])
    np.testing.assert_allclose(model.cluster_centers_, expected, rtol=1e-6)
    assert model.probabilities_.shape == (len(noisy),)
    assert (model.probabilities_[~clustered] == 0).all()
    # predict (an approximation) names the nearest cluster, never noise
    predicted = model.predict(noisy)
    np.testing.assert_array_equal(predicted[clustered], labels[clustered])
    assert predicted.min() >= 0


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_hdbscan_gives_scikit_learns_clusters(noisy: np.ndarray, method: str) -> None:
    """The package with the exact tree and min_samples - 1 is scikit-learn's HDBSCAN."""
    from sklearn.cluster import HDBSCAN

    params = {"min_cluster_size": 15, "min_samples": 7, "cluster_selection_method": method}
    ours = _make("hdbscan", **params).fit(noisy).labels_
    theirs = HDBSCAN(**params, copy=True).fit(noisy).labels_
    np.testing.assert_array_equal(ours == NOISE, theirs == NOISE)
    assert adjusted_rand_score(ours, theirs) == 1.0


def test_hdbscan_with_no_cluster_leaves_every_row_as_noise(noisy: np.ndarray) -> None:
    model = _make("hdbscan", min_cluster_size=2000).fit(noisy)  # the default, on 860 rows
    assert (model.labels_ == NOISE).all() and model.n_clusters_ == 0
    assert model.cluster_centers_.shape == (0, noisy.shape[1])
    assert (model.predict(noisy[:5]) == NOISE).all()


@pytest.mark.parametrize("k", [2, 4])
def test_ward_joins_the_graphs_components_as_scikit_learn_does(k: int) -> None:
    """Three far apart blobs: the neighbour graph has three components; at k = 2 Ward must
    merge across them through the edges joining them."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.neighbors import kneighbors_graph

    X, _ = make_blobs(n_samples=300, centers=3, n_features=4, random_state=1, center_box=(-50, 50))
    X = X.astype(np.float32)
    model = _make("ward", n_clusters=k).fit(X)
    assert model.n_components_ == 3
    graph = kneighbors_graph(X, 10, include_self=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own joining warns about the components
        theirs = AgglomerativeClustering(n_clusters=k, linkage="ward", connectivity=graph).fit(X)
    np.testing.assert_array_equal(model.labels_, theirs.labels_)


def test_cluster_means_renumbers_and_leaves_noise_out() -> None:
    X = np.arange(14, dtype=np.float32).reshape(7, 2)
    centres, labels = cluster_means(X, [3, 3, -1, 7, 7, 7, -1], chunk=2)
    np.testing.assert_array_equal(labels, [0, 0, NOISE, 1, 1, 1, NOISE])
    np.testing.assert_array_equal(centres, [[1, 2], [8, 9]])
    assert centres.dtype == np.float32 and labels.dtype == np.int64
    centres, labels = cluster_means(X, [NOISE] * 7)
    assert centres.shape == (0, 2) and (labels == NOISE).all()


@pytest.mark.parametrize(
    ("backend", "params", "message"),
    [
        ("hdbscan", {"min_cluster_size": 1}, r"'min_cluster_size' parameter of HDBSCAN must be"),
        ("hdbscan", {"min_samples": True}, r"'min_samples' parameter .* must not be a boolean"),
        ("hdbscan", {"cluster_selection_method": "tallest"}, r"'cluster_selection_method'"),
        ("hdbscan", {"n_clusters": 10}, r"\['n_clusters'\] are set by the grid"),
        ("ward", {"n_neighbors": 0}, r"'n_neighbors' parameter of Ward must be"),
        ("ward", {"linkage": "single"}, r"bad parameters for backend 'ward'.*'linkage'"),
        ("spectral", {"eigen_solver": "magic"}, r"'eigen_solver' parameter of Spectral must be"),
        ("spectral", {"assign_labels": "best"}, r"'assign_labels' parameter"),
        ("spectral", {"n_neighbors": 2.5}, r"'n_neighbors' parameter of Spectral must be"),
        ("minibatch", {"batch_size": 0}, r"'batch_size' parameter of MiniBatchKMeans must be"),
        ("minibatch", {"tol": -1.0}, r"'tol' parameter"),
        ("minibatch", {"init": "kmeans||"}, r"'init' parameter"),
    ],
)
def test_a_hostile_parameter_is_refused_in_one_line_when_the_config_is_read(
    backend: str, params: dict[str, Any], message: str
) -> None:
    grid = {"dataset": "digits", "extractors": {"raw": {}}, "backends": {backend: params}}
    with pytest.raises(UserError, match=message) as refused:
        config.from_mapping(grid)
    assert "\n" not in str(refused.value) and f"backend {backend!r}" in str(refused.value)


@pytest.mark.parametrize("name", NEW)
def test_parameters_are_checked_before_any_work(name: str) -> None:
    bad = {"hdbscan": {"min_samples": 0}, "minibatch": {"max_iter": 0}}.get(
        name, {"n_neighbors": -1}
    )
    with pytest.raises(InvalidParameterError):
        _make(name, **bad).fit("not even rows")


def test_memory_estimates_grow_with_what_the_fit_holds() -> None:
    for name in NEW:
        model = _make(name)
        small, wide = model.memory_bytes(70_000, 10, 10), model.memory_bytes(70_000, 784, 10)
        assert 0 < model.memory_bytes(10_000, 10, 10) < small < wide, name
    # the graphs' neighbours and the eigenvectors
    assert _make("ward", n_neighbors=30).memory_bytes(70_000, 10, 10) > _make("ward").memory_bytes(
        70_000, 10, 10
    )
    spectral = _make("spectral")
    assert spectral.memory_bytes(70_000, 10, 40) > spectral.memory_bytes(70_000, 10, 10)

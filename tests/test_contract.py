"""The plug-in contract, checked for every registered extractor and backend on tiny data.

Each plug-in follows its Protocol, describes itself completely with ``get_params``, and is
reproducible: the same parameters, seed and thread count give identical features, labels and
metric columns (an extractor that says it is not ``deterministic`` aside). A backend is used as
the grid uses it: without ``n_clusters`` when it ``chooses_k``, its ``labels_`` when it is
``transductive``, WCSS over the rows in a cluster (noise, -1, left out).

The features of an extractor are obtained as the grid obtains them
(:mod:`mnist_bench.grid.extraction`): a supervised one is fitted on the training images and
transforms all of them; a transductive one (UMAP) gives its embedding of the images it is fitted
on (``fit_transform``); any other is fitted on all images and transforms them. ``cache=None``
goes to the ``fit`` of those that take a cache (``uses_cache``), so each computation trains anew.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_bench import clustering, features
from mnist_bench.analyses.scores import scores, wcss
from mnist_bench.clustering.base import Backend, BaseBackend
from mnist_bench.core.vocabulary import OBJECTIVES
from mnist_bench.data.datasets import Dataset, load
from mnist_bench.features.base import Extractor, SupervisedExtractor

#: Parameters that keep each plug-in fast on tiny data (plug-ins not named use their defaults).
TINY = {
    "lenet": {"epochs": 1},
    "convnet": {"epochs": 1},
    "autoencoder": {"epochs": 1, "hidden": [32], "code_dim": 4},
    "umap": {"n_neighbors": 10},
    "pca": {"n_components": 10},
    "hdbscan": {"min_cluster_size": 50},  # 2,000 by default: every tiny row would be noise
}


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return load("mnist", limit=600)


def _features(name: str, ds: Dataset) -> np.ndarray:
    """The features of every image of ``ds`` by a fresh instance, as the grid computes them."""
    extractor = features.make(name, **TINY.get(name, {}))
    assert isinstance(extractor, Extractor)
    fit_params = {"cache": None} if extractor.uses_cache else {}
    if extractor.supervised:
        assert isinstance(extractor, SupervisedExtractor)
        extractor.fit(ds.images[ds.is_train], ds.labels[ds.is_train], **fit_params)
        assert 0.0 <= extractor.score(ds.images[~ds.is_train], ds.labels[~ds.is_train]) <= 1.0
        return extractor.transform(ds.images)
    assert not isinstance(extractor, SupervisedExtractor)
    if extractor.transductive:
        return extractor.fit_transform(ds.images, **fit_params)
    extractor.fit(ds.images, **fit_params)
    return extractor.transform(ds.images)


@pytest.mark.parametrize("name", features.EXTRACTORS.names())
def test_extractor_contract(name: str, tiny: Dataset) -> None:
    extractor = features.make(name, **TINY.get(name, {}))
    assert isinstance(extractor.version, str) and isinstance(extractor.supervised, bool)
    assert all(isinstance(dist, str) for dist in extractor.requires)
    for flag in ("deterministic", "uses_cache", "transductive"):
        assert isinstance(getattr(extractor, flag), bool), flag
    assert not (extractor.supervised and extractor.transductive)  # the grid could not run it
    params = extractor.get_params()
    assert features.make(name, **params).get_params() == params  # complete and round-trips
    first, second = _features(name, tiny), _features(name, tiny)
    assert first.dtype == np.float32 and first.ndim == 2 and len(first) == len(tiny)
    assert np.isfinite(first).all()
    if extractor.deterministic:  # two fresh computations, bit for bit
        np.testing.assert_array_equal(first, second)
    else:
        assert second.shape == first.shape


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=600,
        centers=4,
        n_features=8,
        cluster_std=0.5,
        random_state=3,
        center_box=(-20, 20),
    )
    return X.astype(np.float32), y


@pytest.mark.parametrize("name", clustering.BACKENDS.names())
def test_backend_contract(name: str, blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    klass = clustering.BACKENDS.load(name)
    grid = {"seed": 7, "threads": 2} | ({} if klass.chooses_k else {"n_clusters": 4})
    runs = []
    for _ in range(2):
        model = clustering.make(name, **grid, **TINY.get(name, {}))
        assert isinstance(model, Backend)
        assert model.objective in OBJECTIVES
        for flag in ("accepts_init", "chooses_k", "deterministic", "transductive"):
            assert isinstance(getattr(model, flag), bool), flag
        params = model.get_params()
        assert {key: params[key] for key in grid} == grid
        assert ("n_clusters" in params) is not model.chooses_k
        assert model.fit(X) is model
        # what the grid takes as the clustering
        labels = model.labels_ if model.transductive else model.predict(X)
        assert labels.shape == (len(X),) and labels.dtype == np.int64
        k = model.n_clusters_
        assert k == (len(model.cluster_centers_) if model.chooses_k else 4)
        assert model.cluster_centers_.shape == (k, X.shape[1])
        assert model.cluster_centers_.dtype == np.float32
        clustered = labels >= 0  # -1: noise, only from a backend that chooses k
        assert clustered.all() or model.chooses_k
        np.testing.assert_array_equal(np.unique(labels[clustered]), np.arange(k))
        assert model.n_iter_ >= 1
        if not model.transductive:
            np.testing.assert_array_equal(labels, model.labels_)
        # what the grid records as objective_value: WCSS, or n times the mean log-likelihood
        within = wcss(X[clustered], labels[clustered], model.cluster_centers_)
        objective = within if model.objective == "wcss" else model.score(X) * len(X)
        assert np.isfinite(objective)
        runs.append((labels, scores(y, labels), within, objective))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]
    # far better than chance (FAISS' random init may merge two blobs, so not always perfect)
    assert runs[0][1]["ari"] > 0.2


class _MixtureWithoutParameterCount(BaseBackend):
    """A mixture-model plug-in that defines ``score`` but not ``n_parameters``."""

    objective = "log_likelihood"

    def __init__(self, *, n_clusters: int = 2, seed: int = 0, threads: int = 1) -> None:
        self.n_clusters, self.seed, self.threads = n_clusters, seed, threads

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        labels = np.arange(len(X)) % self.n_clusters
        centres = np.stack([X[labels == c].mean(axis=0) for c in range(self.n_clusters)])
        return centres, labels, 1

    def score(self, X: np.ndarray, y: object = None) -> float:
        return 0.0


def test_a_mixture_plugin_missing_what_its_objective_needs_is_one_clear_error(
    blobs: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_bench.core.errors import UserError
    from mnist_bench.grid import config, execute

    monkeypatch.setattr(
        config.clustering, "make", lambda name, **p: _MixtureWithoutParameterCount(**p)
    )
    X, y = blobs
    with pytest.raises(
        UserError,
        match=r"backend 'mix' names objective 'log_likelihood' but does "
        r"not define score\(X\) and n_parameters\(\)",
    ):
        execute.fit_one(X, y, "mix", {}, 2, 0, 1)
    # and a grid naming it is refused when its config is read, before any work
    grid = {"dataset": "digits", "extractors": {"raw": {}}, "backends": {"sklearn": {}}}
    with pytest.raises(
        UserError,
        match=r"backend 'sklearn' names objective 'log_likelihood' but does "
        r"not define score\(X\) and n_parameters\(\)",
    ):
        config.from_mapping(grid)
    # with the parameter count it is scored, its BIC from the one log-likelihood
    monkeypatch.setattr(
        _MixtureWithoutParameterCount, "n_parameters", lambda self: 5, raising=False
    )
    row, labels = execute.fit_one(X, y, "mix", {}, 2, 0, 1)
    assert row["objective_value"] == 0.0 and row["bic"] == pytest.approx(5 * np.log(len(X)))
    assert labels.shape == (len(X),)

"""The plug-in contract, checked for every registered extractor and backend on tiny data.

Each plug-in follows its Protocol, describes itself completely with ``get_params``, and is
reproducible: the same parameters, seed and thread count give identical features, labels and
metric columns.
"""

from __future__ import annotations

import numpy as np
import pytest

import clustering
import features
from benchmarks.datasets import Dataset, load
from clustering.base import Clusterer
from clustering.metrics import scores, wcss
from features.base import Extractor, SupervisedExtractor

#: Parameters that keep each plug-in fast on tiny data (plug-ins not named use their defaults).
TINY = {"lenet": {"epochs": 1}, "convnet": {"epochs": 1}}


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return load("mnist", limit=600)


def _features(name: str, ds: Dataset) -> np.ndarray:
    extractor = features.make(name, **TINY.get(name, {}))
    assert isinstance(extractor, Extractor)
    if extractor.supervised:
        assert isinstance(extractor, SupervisedExtractor)
        extractor.fit(ds.images[ds.is_train], ds.labels[ds.is_train], cache=None)
        assert 0.0 <= extractor.score(ds.images[~ds.is_train], ds.labels[~ds.is_train]) <= 1.0
    else:
        extractor.fit(ds.images)
    return extractor.transform(ds.images)


@pytest.mark.parametrize("name", sorted(features.REGISTRY))
def test_extractor_contract(name: str, tiny: Dataset) -> None:
    extractor = features.make(name, **TINY.get(name, {}))
    assert isinstance(extractor.version, str) and isinstance(extractor.supervised, bool)
    assert all(isinstance(dist, str) for dist in extractor.requires)
    params = extractor.get_params()
    assert features.make(name, **params).get_params() == params  # complete and round-trips
    first, second = _features(name, tiny), _features(name, tiny)
    assert first.dtype == np.float32 and first.ndim == 2 and len(first) == len(tiny)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


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


@pytest.mark.parametrize("name", sorted(clustering.REGISTRY))
def test_backend_contract(name: str, blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    runs = []
    for _ in range(2):
        model = clustering.make(name, n_clusters=4, seed=7, n_threads=2)
        assert isinstance(model, Clusterer)
        assert model.get_params()["n_clusters"] == 4
        assert model.fit(X) is model
        labels = model.predict(X)
        assert labels.shape == (len(X),) and labels.dtype == np.int64
        assert model.cluster_centers_.shape == (4, X.shape[1])
        assert model.n_iter_ >= 1
        np.testing.assert_array_equal(labels, model.labels_)
        runs.append((labels, scores(y, labels), wcss(X, labels, model.cluster_centers_)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and runs[0][2] == runs[1][2]
    # far better than chance (FAISS' random init may merge two blobs, so not always perfect)
    assert runs[0][1]["ari"] > 0.2

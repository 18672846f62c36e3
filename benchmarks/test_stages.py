"""Stage timings of the default grid, measured with pytest-benchmark by ``tox -e bench``.

Times the extraction of every image per extractor (transform only; a supervised extractor's
model is loaded from the cache that ``mnist-bench run`` filled) and the fit of every
extractor x backend cell at eval_k. The grid comes from ``$MNIST_BENCH_CONFIG`` (default:
``benchmarks/configs/default.toml``); tox stores the JSON beside the run's REPORT.md.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import clustering
import features
from benchmarks import config, datasets
from benchmarks.cache import Cache, default_cache_dir
from benchmarks.runner import extract

CFG = config.load(os.environ.get("MNIST_BENCH_CONFIG"))
ROUNDS = int(os.environ.get("MNIST_BENCH_ROUNDS", "3"))
CELLS = [(e, b) for e in CFG.features for b in CFG.backends]


@pytest.fixture(scope="session")
def dataset() -> datasets.Dataset:
    return datasets.load(CFG.dataset, CFG.limit)


@pytest.fixture(scope="session")
def cache() -> Cache:
    return Cache(os.environ.get("MNIST_BENCH_CACHE") or default_cache_dir())


@pytest.mark.parametrize("name", list(CFG.features))
def test_extract(benchmark, name: str, dataset: datasets.Dataset, cache: Cache) -> None:
    extractor = features.make(name, **CFG.features[name])
    if extractor.supervised:
        train = dataset.is_train
        extractor.fit(dataset.images[train], dataset.labels[train], cache=cache)
    else:
        extractor.fit(dataset.images)
    benchmark.group = "extract"
    benchmark.extra_info["n_images"] = len(dataset)
    X = benchmark.pedantic(extractor.transform, args=(dataset.images,), rounds=ROUNDS)
    assert X.shape[0] == len(dataset) and np.isfinite(X).all()


@pytest.mark.parametrize(("extractor", "backend"), CELLS, ids=[f"{e}-{b}" for e, b in CELLS])
def test_fit(
    benchmark, extractor: str, backend: str, dataset: datasets.Dataset, cache: Cache
) -> None:
    X = np.ascontiguousarray(extract(dataset, extractor, CFG.features[extractor], cache).X)
    params = CFG.backends[backend]

    def fit() -> object:
        return clustering.make(
            backend, n_clusters=CFG.eval_k, seed=CFG.seeds[0], n_threads=CFG.n_threads, **params
        ).fit(X)

    benchmark.group = f"fit k={CFG.eval_k}"
    benchmark.extra_info.update(n_samples=len(X), feature_dim=X.shape[1], k=CFG.eval_k)
    model = benchmark.pedantic(fit, rounds=ROUNDS)
    assert len(np.unique(model.labels_)) == CFG.eval_k

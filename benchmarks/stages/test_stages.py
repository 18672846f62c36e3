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

from mnist_bench import clustering, features
from mnist_bench.core.cache import Cache, default_cache_dir
from mnist_bench.data import datasets
from mnist_bench.grid import config
from mnist_bench.grid.extraction import extract

CFG = config.load(os.environ.get("MNIST_BENCH_CONFIG"))
ROUNDS = int(os.environ.get("MNIST_BENCH_ROUNDS", "3"))
CELLS = [(e, b) for e in CFG.extractors for b in CFG.backends if CFG.runs(b, e)]
#: Extractors whose transform is timed here: plain, inductive ones. A chain's or a transductive
#: extractor's (UMAP's) extraction is its fit on the images clustered, timed once by the grid
#: (``extract_s`` in results.csv) and too slow to repeat in rounds.
TIMED = [
    name
    for name in CFG.extractors
    if len(CFG.steps(name)) == 1 and not features.make(name, **CFG.extractors[name]).transductive
]


@pytest.fixture(scope="session")
def dataset() -> datasets.Dataset:
    return datasets.load(CFG.dataset, CFG.limit)


@pytest.fixture(scope="session")
def cache() -> Cache:
    return Cache(os.environ.get("MNIST_BENCH_CACHE") or default_cache_dir())


@pytest.mark.parametrize("name", TIMED)
def test_extract(benchmark, name: str, dataset: datasets.Dataset, cache: Cache) -> None:
    extractor = features.make(name, **CFG.extractors[name])
    fit_params = {"cache": cache} if extractor.uses_cache else {}
    if extractor.supervised:
        train = dataset.is_train
        extractor.fit(dataset.images[train], dataset.labels[train], **fit_params)
    else:
        extractor.fit(dataset.images, **fit_params)
    benchmark.group = "extract"
    benchmark.extra_info["n_images"] = len(dataset)
    X = benchmark.pedantic(extractor.transform, args=(dataset.images,), rounds=ROUNDS)
    assert X.shape[0] == len(dataset) and np.isfinite(X).all()


@pytest.mark.parametrize(("extractor", "backend"), CELLS, ids=[f"{e}-{b}" for e, b in CELLS])
def test_fit(
    benchmark, extractor: str, backend: str, dataset: datasets.Dataset, cache: Cache
) -> None:
    X = np.ascontiguousarray(extract(dataset, CFG.steps(extractor), cache, name=extractor).X)
    params = CFG.backends[backend]

    def fit() -> object:
        return clustering.make(
            backend, n_clusters=CFG.eval_k, seed=CFG.seeds[0], threads=CFG.threads_in_use, **params
        ).fit(X)

    benchmark.group = f"fit k={CFG.eval_k}"
    benchmark.extra_info.update(n_samples=len(X), feature_dim=X.shape[1], k=CFG.eval_k)
    model = benchmark.pedantic(fit, rounds=ROUNDS)
    assert len(np.unique(model.labels_)) == CFG.eval_k


@pytest.mark.parametrize("together", [False, True], ids=["one-by-one", "one-product"])
def test_k_selection_scores(benchmark, together: bool) -> None:
    """The k-selection scores of one cell's k sweep (k = 1..14) on the 10,000-point sample,
    scored one labeling at a time or all in one product (what the grid does)."""
    from mnist_bench.analyses.kselect.sample import SampleScores

    rng = np.random.default_rng(0)
    X = rng.random((CFG.limit or 70_000, 16), dtype=np.float32)
    scores = SampleScores(X, threads=CFG.threads_in_use)
    scores.distances()  # computed once per feature matrix, not part of a sweep
    sweep = [rng.integers(0, k, len(X)) for k in range(1, 15)]

    def score() -> list[dict[str, float]]:
        return scores.many(sweep) if together else [scores(labels) for labels in sweep]

    benchmark.group = "k-selection scores of a 14-k sweep"
    got = benchmark.pedantic(score, rounds=ROUNDS)
    assert len(got) == len(sweep) and np.isfinite(got[-1]["silhouette"])

"""Shared starts: every k-means backend from the same k-means++ centres, library against library;
time per iteration and the memory floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_toml_in_process

from mnist_bench import clustering, features
from mnist_bench.analyses.scores import wcss
from mnist_bench.analyses.shared_starts.starts import backends_for, kmeans_plusplus_start
from mnist_bench.analyses.time import floor
from mnist_bench.core import vocabulary as words
from mnist_bench.core.errors import UserError
from mnist_bench.data.datasets import load
from mnist_bench.grid import config, environment

ITERATIONS = 25


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    """Raw pixels of a stratified 3,000-image subset of MNIST."""
    ds = load("mnist", limit=3000)
    return features.make("raw").fit(ds.images).transform(ds.images)


def _from(name: str, X: np.ndarray, start: np.ndarray, iterations: int) -> clustering.Backend:
    klass = clustering.BACKENDS.load(name)
    params = klass.start_params(start, iterations)
    return clustering.make(name, n_clusters=len(start), seed=0, threads=2, **params).fit(X)


def test_backends_declare_whether_they_accept_an_init_array() -> None:
    accepts = {n: clustering.BACKENDS.load(n).accepts_init for n in ("sklearn", "faiss", "gmm")}
    assert accepts == {"sklearn": True, "faiss": True, "gmm": False}
    assert clustering.BACKENDS.load("dask").accepts_init
    with pytest.raises(TypeError, match="cannot start from given centres"):
        clustering.BACKENDS.load("gmm").start_params(np.zeros((2, 2)), 5)


def test_start_is_sklearns_kmeans_plusplus_seeded(raw: np.ndarray) -> None:
    from sklearn.cluster import kmeans_plusplus
    from threadpoolctl import threadpool_limits

    start = kmeans_plusplus_start(raw, 10, seed=3)
    with threadpool_limits(limits=1):  # drawn on one thread, whatever the grid's threads
        expected, _ = kmeans_plusplus(raw, 10, random_state=3)
    assert start.dtype == np.float32 and start.shape == (10, raw.shape[1])
    np.testing.assert_array_equal(start, expected)
    np.testing.assert_array_equal(start, kmeans_plusplus_start(raw, 10, seed=3))
    assert not np.array_equal(start, kmeans_plusplus_start(raw, 10, seed=4))


def test_one_iteration_from_the_same_start_gives_the_same_centres(raw: np.ndarray) -> None:
    """Both libraries take the start (FAISS' init_centroids is not ignored): one Lloyd step
    from it lands on the same centres up to float rounding."""
    start = kmeans_plusplus_start(raw, 10, seed=0)
    sk, fa = _from("sklearn", raw, start, 1), _from("faiss", raw, start, 1)
    assert sk.n_iter_ == fa.n_iter_ == 1
    np.testing.assert_allclose(sk.cluster_centers_, fa.cluster_centers_, atol=1e-4)
    # FAISS' own start is another one: it ends elsewhere
    own = clustering.make("faiss", n_clusters=10, seed=0, threads=2, niter=1).fit(raw)
    assert np.abs(own.cluster_centers_ - sk.cluster_centers_).max() > 1e-2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sklearn_and_faiss_from_a_shared_start_end_at_the_same_wcss(
    raw: np.ndarray, seed: int
) -> None:
    start = kmeans_plusplus_start(raw, 10, seed=seed)
    ends = {}
    for name in ("sklearn", "faiss"):
        model = _from(name, raw, start, ITERATIONS)
        labels = model.predict(raw)
        ends[name] = wcss(raw, labels, model.cluster_centers_)
        assert 1 <= model.n_iter_ <= ITERATIONS
    assert ends["faiss"] == pytest.approx(ends["sklearn"], rel=0.005)


def test_dask_from_a_shared_start_matches_sklearn() -> None:
    pytest.importorskip("dask_ml")
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=600, centers=4, n_features=6, random_state=1)
    X = X.astype(np.float32)
    start = kmeans_plusplus_start(X, 4, seed=0)
    dask = _from("dask", X, start, 5)
    sk = _from("sklearn", X, start, 5)
    # the same iterations: at most 5, fewer only at a fixed point, for both
    assert 1 <= dask.n_iter_ == sk.n_iter_ <= 5
    np.testing.assert_array_equal(dask.labels_, sk.labels_)
    np.testing.assert_allclose(dask.cluster_centers_, sk.cluster_centers_, atol=1e-4)


def test_bad_init_arrays_are_refused() -> None:
    X = np.random.default_rng(0).random((50, 3), dtype=np.float32)
    for name in ("sklearn", "faiss"):
        model = clustering.make(name, n_clusters=4, init=np.zeros((3, 3), np.float32))
        with pytest.raises(ValueError, match=r"init must be finite centres of shape"):
            model.fit(X)
    with pytest.raises(ValueError, match="n_init must be 1"):
        clustering.make("sklearn", n_clusters=2, n_init=2, init=X[:2]).fit(X)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"backends": ["sklearn", "gmm"]}, "backend 'gmm' cannot start from given centres"),
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"backends": "sklearn"}, "shared_starts.backends must be a list of names"),
        ({"extractor": ["raw"]}, "shared_starts must be a table of"),
        ({"extractors": ["hog"]}, "unknown extractor in shared_starts.extractors 'hog'"),
        ({"backends": ["dask", "sklearn"]}, "unknown backend in shared_starts.backends 'dask'"),
    ],
)
def test_config_checks_the_table(table: dict, message: str) -> None:
    data = {"dataset": "digits", "extractors": {"raw": {}}, "backends": {"sklearn": {}}}
    with pytest.raises(UserError, match=message):
        config.from_mapping({**data, "shared_starts": table})


def test_default_grid_compares_sklearn_and_faiss_on_raw_and_hog() -> None:
    cfg = config.load()
    assert {"raw", "hog"} <= set(cfg.shared_starts["extractors"])
    assert {"sklearn", "faiss"} <= set(cfg.shared_starts["backends"])
    # CLI choices narrow them; one library alone is no comparison
    narrow = config.load(overrides={"backends": ["sklearn"]})

    assert backends_for(cfg.shared_starts, "raw", list(cfg.backends)) == ["sklearn", "faiss"]
    assert backends_for(narrow.shared_starts, "raw", list(narrow.backends)) == []
    assert backends_for(cfg.shared_starts, "lenet", list(cfg.backends)) == []


def test_bandwidth_is_measured_and_positive() -> None:
    bw = environment.memory_bandwidth(threads=2, nbytes=32 << 20, passes=2)
    assert bw["bytes_per_s"] > 1e8 and bw["array_bytes"] == 32 << 20 and bw["threads"] == 2
    assert floor.floor_s(70_000, 784, 10e9) == pytest.approx(70_000 * 784 * 4 / 10e9)


GRID = """
dataset = "digits"
k = "9-10"
seeds = [0, 1]
threads = 1
[extractors.raw]
[backends.sklearn]
[backends.faiss]
[shared_starts]
extractors = ["raw"]
backends = ["sklearn", "faiss"]
iterations = 25
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_toml_in_process(tmp_path_factory.mktemp("shared"), GRID)


def test_grid_adds_shared_start_rows(run: Path) -> None:
    frame = pd.read_csv(run / words.RESULTS)
    assert list(frame.columns) == list(words.COLUMNS)
    shared = frame[frame["init"] == "shared"]
    assert set(frame["init"]) == {"own", "shared"}
    assert sorted(shared["backend"].unique()) == ["faiss@shared", "sklearn@shared"]
    assert set(shared["k"]) == {10} and sorted(shared["seed"].unique()) == [0, 1]
    assert not shared["in_sweep"].any() and shared["eval_k"].all()
    assert (shared.loc[shared.backend == "faiss@shared", "n_iter"] == 25).all()
    assert (shared["n_iter"] <= 25).all()
    params = [json.loads(p) for p in shared["backend_params"]]
    assert all(p["init"] == "shared" for p in params)
    assert {p.get("max_iter", p.get("niter")) for p in params} == {25}
    np.testing.assert_allclose(frame["s_per_iter"], frame["fit_s"] / frame["n_iter"])
    for seed, group in shared.groupby("seed"):
        assert group["wcss"].max() / group["wcss"].min() - 1 < 0.005, seed
    assert not frame.duplicated(list(words.ROW_KEY)).any()
    # only the backends' own rows keep labels (for montages)
    assert not list((run / words.LABELS_DIR).glob("*@shared*"))


def test_environment_records_the_bandwidth(run: Path) -> None:
    env = json.loads((run / words.ENVIRONMENT).read_text())
    assert env["memory_bandwidth"]["bytes_per_s"] > 1e8


def test_report_tables(run: Path) -> None:
    report = (run / words.REPORT).read_text()
    grid = report.split("### Grid at k = 10")[1].split("##")[0]
    assert "raw × sklearn" in grid and "@shared" not in grid  # the grid is the own starts
    section = report.split("## Library against library from the same start")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| raw")]
    assert len(lines) == 4  # 2 seeds x 2 libraries
    assert "× floor" in section and "WCSS / best − 1" in section
    assert "Largest WCSS gap between libraries from one start" in section
    floor_part = report.split("## Time per iteration against the memory floor")[1]
    assert "GB/s" in floor_part and "× floor" in floor_part.split("\n## ")[0]

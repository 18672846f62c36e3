"""The label-free extractors (``pca``, ``umap``, ``autoencoder``), chains of them, and ``gmm``.

- determinism: two fresh computations give the same features bit for bit (the autoencoder
  trained twice); ``umap`` with ``parallel = true`` says it is not deterministic;
- PCA's input: integer pixels scaled by 1/255, float rows (a previous step's features) as given;
- chains: each step's output cached under the key of the steps up to it, so a chain sharing a
  first step reuses it and a one-step chain is the plain extractor; a supervised step after the
  first is refused before anything trains;
- config: chain tables and ``backend_extractors`` parsed and checked, then one small grid run
  through the CLI (pca, a pca -> umap chain, k-means and a Gaussian mixture on part of digits).

Everything runs on 400 of the 8x8 digits: a UMAP fit then costs about a second, after the
20-40 s numba compilation umap-learn pays once per process, here and in the CLI's process. The
CLI run therefore starts in the background when the module starts (:func:`grid_run`) and its
test, last, only waits for it and reads what it wrote. That test is marked ``ci`` (CI runs it
with ``-m ci``); the default run leaves it out, and then the CLI run is not started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mnist_bench import features
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.vocabulary import COLUMNS, REPORT, RESULTS
from mnist_bench.data.datasets import Dataset, load
from mnist_bench.features.base import as_float_rows
from mnist_bench.grid import config
from mnist_bench.grid.extraction import extract, step_key

N_IMAGES = 400
#: Small parameters of each label-free extractor (fast on 400 8x8 images).
SMALL: dict[str, dict[str, Any]] = {
    "pca": {"n_components": 10},
    "umap": {"n_neighbors": 10},
    "autoencoder": {"epochs": 2, "hidden": [32], "code_dim": 4, "batch_size": 64},
}
PU = [("pca", {"n_components": 10}), ("umap", {"n_neighbors": 10})]


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load("digits", limit=N_IMAGES)


def _fresh_features(name: str, images: np.ndarray) -> tuple[Any, np.ndarray]:
    """A new instance and its features of ``images``, as the grid computes them (no cache)."""
    extractor = features.make(name, **SMALL[name])
    if extractor.transductive:
        return extractor, extractor.fit_transform(images)
    if extractor.uses_cache:
        return extractor, extractor.fit(images, cache=None).transform(images)
    return extractor, extractor.fit(images).transform(images)


def _stored(cache: Cache) -> set[str]:
    """The keys of the feature arrays in ``cache``."""
    return {p.stem for p in (cache.root / "features").glob("*.npy")}


# -- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pca", "umap", "autoencoder"])
def test_two_fresh_computations_are_identical(ds: Dataset, name: str) -> None:
    extractor, first = _fresh_features(name, ds.images)
    _, second = _fresh_features(name, ds.images)
    dim = SMALL[name].get("code_dim", 10)
    assert first.dtype == np.float32 and first.shape == (len(ds), dim)
    assert np.isfinite(first).all() and first.std() > 0
    np.testing.assert_array_equal(first, second)
    assert extractor.deterministic is True
    if name == "umap":  # transductive: the features are the embedding of the fitted images
        assert first is extractor.embedding_
        np.testing.assert_array_equal(first, extractor.umap_.embedding_)
    if name == "autoencoder":  # trained both times
        assert extractor.from_cache_ is False and extractor.model_path_ is None


def test_umap_refuses_too_few_images(ds: Dataset) -> None:
    with pytest.raises(ValueError, match=r"n_neighbors=20 needs more than 20 images"):
        features.make("umap").fit(ds.images[:20])


def test_parallel_umap_is_not_deterministic(
    ds: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert features.make("umap", parallel=True).deterministic is False
    assert features.make("umap", parallel=False).deterministic is True
    # the chain's Features (and so the results' `deterministic` column) say so: any
    # non-deterministic step makes the chain non-deterministic (the embedding is stubbed here,
    # only the bookkeeping is under test)
    from mnist_bench.features.umap_embedding import UMAP

    def stub(self: Any, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        return np.zeros((len(X), self.n_components), np.float32)

    monkeypatch.setattr(UMAP, "fit_transform", stub)
    cache = Cache(tmp_path)
    for parallel in (True, False):
        steps = [PU[0], ("umap", {"n_neighbors": 10, "parallel": parallel})]
        assert extract(ds, steps, cache).deterministic is (not parallel)
    assert extract(ds, [PU[0]], cache).deterministic is True


def test_autoencoder_model_is_cached(ds: Dataset, tmp_path: Path) -> None:
    """Trained once into the cache, then loaded from it: the same features."""
    cache = Cache(tmp_path)
    trained = features.make("autoencoder", **SMALL["autoencoder"]).fit(ds.images, cache=cache)
    assert trained.from_cache_ is False and trained.model_path_.is_file()
    loaded = features.make("autoencoder", **SMALL["autoencoder"]).fit(ds.images, cache=cache)
    assert loaded.from_cache_ is True and loaded.model_path_ == trained.model_path_
    X = trained.transform(ds.images)
    np.testing.assert_array_equal(X, loaded.transform(ds.images))


# -- PCA's input ---------------------------------------------------------------------------------


def test_as_float_rows_scales_integers_only() -> None:
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    expected = np.array([[0, 255, 51, 102]], dtype=np.float32) / np.float32(255)
    np.testing.assert_array_equal(as_float_rows(images), expected)
    np.testing.assert_allclose(expected, [[0.0, 1.0, 0.2, 0.4]])
    assert as_float_rows(images).dtype == np.float32
    assert as_float_rows(images.astype(np.int64)).max() == 1.0  # any integer type
    floats = np.array([[-3.5, 0.0, 7.0, 300.0]], dtype=np.float32)
    rows = as_float_rows(floats)
    assert rows.dtype == np.float32 and np.shares_memory(rows, floats)  # as given, no copy
    np.testing.assert_array_equal(as_float_rows(floats.astype(np.float64)), floats)


def test_pca_sees_pixels_over_255_and_floats_as_given(ds: Dataset) -> None:
    from sklearn.decomposition import PCA as SkPCA

    scaled = ds.images.reshape(len(ds), -1).astype(np.float32) / np.float32(255)
    X = features.make("pca", n_components=5).fit_transform(ds.images)
    # uint8 images are the same input as their pixels / 255 as float rows...
    np.testing.assert_array_equal(X, features.make("pca", n_components=5).fit_transform(scaled))
    np.testing.assert_allclose(X, SkPCA(5, random_state=0).fit_transform(scaled), atol=1e-4)
    # ...while float rows are not scaled again (a previous step's features, say)
    raw = features.make("pca", n_components=5).fit(scaled * 255)
    np.testing.assert_allclose(raw.pca_.mean_, scaled.mean(axis=0) * 255, rtol=1e-5)
    np.testing.assert_allclose(raw.transform(scaled * 255), X * 255, rtol=1e-3, atol=1e-2)


# -- chains and the cache ------------------------------------------------------------------------


def test_chain_steps_are_cached_and_shared(
    ds: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_bench.features.pca import PCA
    from mnist_bench.features.umap_embedding import UMAP

    fits = {"pca": 0, "umap": 0}

    def counted(cls: type, name: str) -> None:
        original = cls._fit

        def _fit(self: Any, *args: Any, **kwargs: Any) -> None:
            fits[name] += 1
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "_fit", _fit)

    counted(PCA, "pca")
    counted(UMAP, "umap")
    cache = Cache(tmp_path)
    a = extract(ds, PU, cache, name="a")
    assert (a.name, a.steps, a.cached, a.supervised, a.deterministic) == (
        "a",
        ("pca", "umap"),
        False,
        False,
        True,
    )
    assert a.X.shape == (len(ds), 10) and a.X.dtype == np.float32
    assert a.meta["fit_s"] is not None and a.meta["transform_s"] > 0
    assert fits == {"pca": 1, "umap": 1}
    first_key, chain_key = step_key(ds, PU[:1]), step_key(ds, PU)
    assert _stored(cache) == {first_key, chain_key}  # one entry per step

    # the same as running the steps by hand: UMAP of the PCA features, taken as they are
    by_hand = features.make("pca", n_components=10).fit_transform(ds.images)
    np.testing.assert_array_equal(a.X, features.make("umap", n_neighbors=10).fit_transform(by_hand))
    fits.update(pca=1, umap=1)

    # a chain sharing the first step reuses it: PCA is not fitted again
    b_steps = [PU[0], ("umap", {"n_neighbors": 12})]
    b = extract(ds, b_steps, cache, name="b")
    assert fits == {"pca": 1, "umap": 2}
    assert b.cached is False  # its last step was computed
    assert _stored(cache) == {first_key, chain_key, step_key(ds, b_steps)}
    assert not np.array_equal(a.X, b.X)

    # the first chain again: every step from the cache, the same features
    again = extract(ds, PU, cache, name="a")
    assert fits == {"pca": 1, "umap": 2}
    assert again.cached is True and again.steps == ("pca", "umap")
    np.testing.assert_array_equal(again.X, a.X)

    # a one-step chain is the plain extractor: the same key, the chain's first entry
    assert step_key(ds, [("pca", {"n_components": 10})]) == first_key
    # the key is made of the full parameters, so spelling out a default changes nothing
    full = features.make("pca", n_components=10).get_params()
    assert step_key(ds, [("pca", full)]) == first_key
    assert step_key(ds, [("pca", {"n_components": 11})]) != first_key
    plain = extract(ds, [("pca", {"n_components": 10})], cache)
    assert plain.cached is True and plain.name == "pca" and plain.steps == ("pca",)
    assert fits == {"pca": 1, "umap": 2}
    np.testing.assert_array_equal(plain.X, by_hand)
    assert len(_stored(cache)) == 3


def test_supervised_step_after_the_first_is_refused(
    ds: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_bench.features.lenet import LeNet

    def no_training(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("LeNet must not be trained")

    monkeypatch.setattr(LeNet, "fit", no_training)
    cache = Cache(tmp_path)
    steps = [("pca", {}), ("lenet", {"epochs": 1})]
    with pytest.raises(UserError, match=r"extractor 'pl': step 'lenet' learns from labels"):
        extract(ds, steps, cache, name="pl")
    assert not (tmp_path / "models").exists()  # no model trained or saved
    with pytest.raises(UserError, match="at least one step"):
        extract(ds, [], cache)


# -- config --------------------------------------------------------------------------------------


def _grid(extractors: dict[str, Any], **rest: Any) -> config.GridConfig:
    return config.from_mapping({"dataset": "digits", "extractors": extractors, **rest})


def test_chain_table_parses_into_steps() -> None:
    cfg = _grid(
        {
            "pca": {"n_components": 10},
            "pu": {"steps": ["pca", "umap"], "pca": {"n_components": 10}},
            "n2d": {"steps": ["autoencoder", "umap"], "umap": {"n_neighbors": 10}},
        },
        backends={"sklearn": {}, "gmm": {"covariance_type": "diag"}},
        backend_extractors={"gmm": ["pu", "n2d"]},
        threads=1,
    )
    # every step that takes a thread count gets the grid's
    one = {"threads": 1}
    assert cfg.steps("pca") == [("pca", {"n_components": 10, **one})]
    assert cfg.steps("pu") == [("pca", {"n_components": 10, **one}), ("umap", one)]
    assert cfg.steps("n2d") == [("autoencoder", one), ("umap", {"n_neighbors": 10, **one})]
    assert config.chain_steps("x", {"steps": ["pca"]}) == [("pca", {})]
    # backend_extractors limits gmm; other backends run on every extractor
    assert [cfg.runs("gmm", e) for e in ("pca", "pu", "n2d")] == [False, True, True]
    assert all(cfg.runs("sklearn", e) for e in ("pca", "pu", "n2d"))


@pytest.mark.parametrize(
    ("extractors", "message"),
    [
        ({"pu": {"steps": "pca"}}, r"extractors\.pu\.steps must be a non-empty list"),
        ({"pu": {"steps": []}}, r"extractors\.pu\.steps must be a non-empty list"),
        ({"pu": {"steps": ["pca", 3]}}, r"extractors\.pu\.steps must be a non-empty list"),
        ({"pu": {"steps": ["pca", "umapp"]}}, r"unknown extractor 'umapp' \(did you mean 'umap'"),
        ({"pu": {"steps": ["pca", "pca"]}}, r"names a step twice"),
        ({"pu": {"steps": ["pca"], "umap": {}}}, r"extractors\.pu has \['umap'\], which are not"),
        ({"umap": {"steps": ["pca", "umap"]}}, r"chain 'umap' has the name of an extractor"),
        ({"pu": {"steps": ["pca"], "pca": 10}}, r"extractors\.pu\.pca must be a table"),
        ({"pu": {"steps": ["pca", "umap"], "umap": {"n_neighbors": 1}}}, r"'n_neighbors'"),
        ({"pu": {"steps": ["pca"], "pca": {"n_component": 10}}}, r"bad parameters .* 'pca'"),
    ],
)
def test_bad_chain_tables_are_user_errors(extractors: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        _grid(extractors)


def test_bad_backend_extractors_are_user_errors() -> None:
    backends = {"sklearn": {}, "gmm": {}}
    with pytest.raises(UserError, match=r"unknown extractor in backend_extractors\.gmm 'pv'"):
        _grid(
            {"pu": {"steps": ["pca", "umap"]}},
            backends=backends,
            backend_extractors={"gmm": ["pv"]},
        )
    with pytest.raises(UserError, match=r"backend_extractors.* \(at gmm\): .*valid list"):
        _grid({"raw": {}}, backends=backends, backend_extractors={"gmm": "raw"})


# -- one small grid through the CLI --------------------------------------------------------------

GRID_TEST = "test_grid_with_a_chain_and_a_mixture"
GRID = f"""
dataset = "digits"
limit = {N_IMAGES}
k = "9-10"
seeds = [0, 1]
threads = 1

[extractors.raw]

[extractors.pca]
n_components = 10

[extractors.pu]
steps = ["pca", "umap"]
pca = {{ n_components = 10 }}
umap = {{ n_neighbors = 10 }}

[backends.sklearn]

[backends.gmm]

[backend_extractors]
gmm = ["pu"]
"""


@pytest.fixture(scope="module", autouse=True)
def grid_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], Path] | None]:
    """The CLI run of :data:`GRID`, started in the background when this module starts.

    Its numba compilation and UMAP fit (30-60 s) then overlap the tests above instead of adding
    to them; :func:`test_grid_with_a_chain_and_a_mixture` waits for it. Not started when that
    test is not selected; killed if still running when the module ends.
    """
    if not any(item.name == GRID_TEST for item in request.session.items):
        yield None
        return
    folder = tmp_path_factory.mktemp("grid")
    (folder / "grid.toml").write_text(GRID)
    args = ["--config", "grid.toml", "--out", "out", "--cache-dir", "cache"]
    with open(folder / "log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mnist_bench", "run", *args],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, folder
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.ci
def test_grid_with_a_chain_and_a_mixture(
    grid_run: tuple[subprocess.Popen[bytes], Path] | None,
) -> None:
    assert grid_run is not None
    proc, folder = grid_run
    returncode = proc.wait(timeout=600)
    assert returncode == 0, (folder / "log").read_text()[-3000:]
    out, cache = folder / "out", folder / "cache"
    frame = pd.read_csv(out / RESULTS)
    assert list(frame.columns) == list(COLUMNS)
    cells = frame.groupby(["extractor", "backend"]).size().to_dict()
    # k 9 and 10 on seed 0, k 10 on seed 1; gmm on the chain only
    assert cells == {
        ("raw", "sklearn"): 3,
        ("pca", "sklearn"): 3,
        ("pu", "sklearn"): 3,
        ("pu", "gmm"): 3,
    }

    chain = frame["extractor"] == "pu"
    assert (frame.loc[chain, "extractor_steps"] == "pca → umap").all()
    assert frame.loc[~chain, "extractor_steps"].isna().all()
    assert frame["deterministic"].all() and not frame["supervised"].any()

    gmm = frame["backend"] == "gmm"
    assert (frame.loc[gmm, "objective"] == "log_likelihood").all()
    assert (frame.loc[~gmm, "objective"] == "wcss").all()
    assert (frame.loc[~gmm, "objective_value"] == frame.loc[~gmm, "wcss"]).all()
    assert np.isfinite(frame.loc[gmm, "objective_value"]).all()
    assert np.isfinite(frame["wcss"]).all()

    # the plain pca and the chain's first step are one cache entry: raw, pca, pca -> umap
    entries = [
        p
        for p in (cache / "features").glob("*.npy")
        if json.loads(p.with_suffix(".json").read_text()).get("kind") != "map-layout"
    ]
    assert len(entries) == 3

    report = (out / REPORT).read_text()
    assert "best label-free" in report
    assert "pu (pca → umap)" in report

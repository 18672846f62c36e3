"""The built-in plug-ins are scikit-learn estimators: scikit-learn's own checks, and the API uses.

scikit-learn's estimator checks (``parametrize_with_checks``, marked ``ci``: CI runs them with
``-m ci``, the default run leaves them out) run on every built-in plug-in that is cheap enough to
fit dozens of times on tiny data:

- ``raw``, ``sklearn``, ``faiss``, ``gmm``, ``minibatch``, ``ward``, ``spectral`` at their
  defaults: every check passes (``ward`` and ``spectral`` take at most the other rows as
  neighbours, and ``spectral`` solves the checks' few rows densely).
- ``hdbscan`` at its defaults: ``check_clustering`` wants the check's 50 rows in three blobs
  clustered, and a cluster of at least 2,000 rows (the default ``min_cluster_size``, sized for
  MNIST's digits) leaves every one of them as noise: an expected failure
  (:data:`HDBSCAN_TOO_FEW`). Every other check passes.
- ``hdbscan`` with ``min_cluster_size`` and ``min_samples`` 5, scikit-learn's own HDBSCAN's
  scale: every check passes, ``check_clustering`` included.
- ``hog`` at its defaults: the checks feed 2-D data 1 to 10 columns wide, read as one-row images
  ``[n, 1, d]``, and HOG needs images of at least one block (``pixels_per_cell *
  cells_per_block`` = 14 pixels a side by default): ``fit`` refuses them with a ``ValueError``,
  so each check that fits is an expected failure (listed in :data:`HOG_TOO_SMALL`). Every other
  check (cloning, repr, tags, ``__init__``, unfitted errors...) passes.
- ``hog`` with 1-pixel cells and 1-cell blocks, which holds a block on any input: every check
  passes, so the fitting checks do run the HOG code.
- ``pca`` at its defaults (50 components): the checks fit on 1 to 10 columns and few rows, and
  ``fit`` refuses more components than ``min(n_samples, n_features)`` with a ``ValueError``, so
  each check that fits is an expected failure (:data:`PCA_TOO_FEW_FEATURES`), except the few
  checks that set ``n_components = 1`` themselves.
- ``pca`` with 1 and with 2 components, which every check's data holds: every check passes, so
  the fitting checks do run the PCA code (1 component: the checks' 1-column data too).

Not run through the checks (their API is tested below instead):

- ``lenet``, ``convnet``: every ``fit`` trains a TensorFlow CNN (seconds to minutes, TensorFlow
  loaded into the test process), and they need labelled 28x28 images, where the checks fit on
  small random 2-D data without meaningful labels. ``clone``, ``get_params``, ``set_params``
  and the parameter checks (which run before TensorFlow loads) are tested here; training,
  extraction and ``score`` in ``tests/test_cnn.py``.
- ``autoencoder``: every ``fit`` trains a TensorFlow model (the 46 checks: minutes). ``clone``,
  ``get_params``, ``set_params`` and the parameter checks (before TensorFlow loads) are tested
  here; training, determinism and the cache in ``tests/test_label_free.py`` and
  ``tests/test_contract.py``.
- ``umap``: the first ``fit`` in a process compiles umap-learn's numba code (20-40 s), every fit
  costs about a second even on tiny data, and ``n_neighbors`` (at least 2, 20 by default) must
  be below the sample count, where the checks fit on as few as 1 to 3 rows. The same API tests
  as ``autoencoder`` here; the embedding in ``tests/test_label_free.py``.
- ``dask``: every ``fit`` costs 4 to 6 s even on 50 points (a LocalCluster, then a scheduler
  round trip per k-means|| round and per Lloyd step), and the 46 checks fit about a hundred
  times: over five minutes. One ``fit_predict`` and the parameter checks are tested here; the
  clustering itself in ``tests/test_dask.py``.

:data:`NOT_CHECKED` holds these reasons; a test makes sure every built-in plug-in is either
checked or listed there.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from mnist_bench import clustering, features
from mnist_bench.clustering.base import bic
from mnist_bench.clustering.density import HDBSCAN
from mnist_bench.core.params import InvalidParameterError
from mnist_bench.core.vocabulary import OBJECTIVES
from mnist_bench.data.datasets import Dataset, load
from mnist_bench.features.hog import HOG
from mnist_bench.features.pca import PCA

#: Built-in plug-ins left out of scikit-learn's checks, with the reason (see the docstring).
NOT_CHECKED = {
    "lenet": "fit trains a TensorFlow CNN on labelled 28x28 images",
    "convnet": "fit trains a TensorFlow CNN on labelled 28x28 images",
    "dask": "4-6 s per fit on tiny data (LocalCluster, scheduler round trips): minutes in all",
    "autoencoder": "fit trains a TensorFlow model: minutes over the checks' many fits",
    "umap": "numba compilation (20-40 s), ~1 s per fit, n_neighbors above the checks' few rows",
}

#: Parameters each checked plug-in is checked with (one instance per dict; default: ``[{}]``).
CHECKED_PARAMS: dict[str, list[dict[str, Any]]] = {
    "hog": [{}, {"pixels_per_cell": 1, "cells_per_block": 1}],
    # the default (50 components) is refused on the checks' narrow data; 1 and 2 always fit
    "pca": [{}, {"n_components": 1}, {"n_components": 2}],
    # the default (clusters of 2,000 rows) leaves the checks' 50 rows as noise; 5 clusters them
    "hdbscan": [{}, {"min_cluster_size": 5, "min_samples": 5}],
}

_TOO_SMALL = (
    "HOG needs image-shaped input of at least one block (14x14 pixels at the defaults); "
    "the check fits on rows 1-10 wide, read as 1-pixel-high images, and fit refuses them"
)
#: The checks a default HOG fails, all for the one reason above.
HOG_TOO_SMALL = dict.fromkeys(
    [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ],
    _TOO_SMALL,
)


_TOO_FEW = (
    "PCA's default 50 components exceed min(n_samples, n_features) of the checks' data (1-10 "
    "columns, few rows), and fit refuses them with a ValueError"
)
#: The checks a default PCA fails, all for the one reason above.
PCA_TOO_FEW_FEATURES = dict.fromkeys(
    [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
    ],
    _TOO_FEW,
)

#: The check a default HDBSCAN fails, and why.
HDBSCAN_TOO_FEW = {
    "check_clustering": (
        "the check clusters 50 rows in three blobs; HDBSCAN's default clusters have at least "
        "2,000 rows (sized for MNIST's digits), so every row is noise"
    )
}

THIS = "mnist-bench"  #: this repository's distribution


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _builtins(registry: Any) -> list[str]:
    """The plug-ins this repository registers (not those of other installed distributions)."""
    return [n for n in registry.names() if _canonical(registry.get(n).distribution) == THIS]


BUILTIN_EXTRACTORS = _builtins(features.EXTRACTORS)
BUILTIN_BACKENDS = _builtins(clustering.BACKENDS)


def _checked_estimators() -> list[Any]:
    estimators = []
    for registry, names in (
        (features.EXTRACTORS, BUILTIN_EXTRACTORS),
        (clustering.BACKENDS, BUILTIN_BACKENDS),
    ):
        for name in names:
            if name not in NOT_CHECKED:
                estimators += [registry.make(name, **p) for p in CHECKED_PARAMS.get(name, [{}])]
    return estimators


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """``{check: reason}`` for the checks ``estimator`` is expected to fail."""
    if isinstance(estimator, HOG) and estimator.pixels_per_cell * estimator.cells_per_block > 1:
        return HOG_TOO_SMALL
    if isinstance(estimator, PCA) and estimator.n_components > 2:
        return PCA_TOO_FEW_FEATURES
    if isinstance(estimator, HDBSCAN) and estimator.min_cluster_size > 50:
        return HDBSCAN_TOO_FEW
    return {}


#: Strict expected failures (one that passes fails the run) where scikit-learn has them: from
#: 1.8 on, which needs Python 3.11; the declared floor is 1.6 (tox -e floors runs it)
STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@pytest.mark.ci  # hundreds of cases: CI runs them (`-m ci`), the default run does not
@parametrize_with_checks(
    _checked_estimators(), expected_failed_checks=expected_failed_checks, **STRICT
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_every_builtin_is_checked_or_excused() -> None:
    checked = {type(e).__name__ for e in _checked_estimators()}
    assert {"Raw", "HOG", "PCA", "SklearnKMeans", "FaissKMeans", "GMM"} <= checked
    assert {"HDBSCAN", "Ward", "Spectral", "MiniBatchKMeans"} <= checked
    assert {"lenet", "convnet", "umap", "autoencoder", "dask"} <= set(NOT_CHECKED)
    # every built-in is one or the other: none is silently skipped
    for name in BUILTIN_EXTRACTORS:
        assert name in NOT_CHECKED or features.EXTRACTORS.load(name).__name__ in checked
    for name in BUILTIN_BACKENDS:
        assert name in NOT_CHECKED or clustering.BACKENDS.load(name).__name__ in checked
    # the plug-ins left out have their API tested below
    assert set(NOT_CHECKED) - {"lenet", "convnet", "dask"} == set(NOT_CHECKED_PARAMS)
    assert set(NOT_CHECKED) <= set(BUILTIN_EXTRACTORS) | set(BUILTIN_BACKENDS)
    assert all(NOT_CHECKED.values())


# -- the scikit-learn API on MNIST images ------------------------------------------------------


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load("mnist", limit=300)


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=300, centers=3, n_features=5, cluster_std=0.5, random_state=0)
    return X.astype(np.float32), y


def test_clone_hog(ds: Dataset) -> None:
    hog = features.make("hog", orientations=6)
    copy = clone(hog)
    assert copy is not hog and type(copy) is HOG
    expected = {
        "orientations": 6,
        "pixels_per_cell": 7,
        "cells_per_block": 2,
        "block_norm": "L2-Hys",
    }
    assert copy.get_params() == hog.get_params() == expected
    fitted = hog.fit(ds.images)
    unfitted = clone(fitted)  # parameters only, no fitted state
    assert hasattr(fitted, "n_features_in_") and not hasattr(unfitted, "n_features_in_")


def test_set_params_changes_the_hog_dimension(ds: Dataset) -> None:
    hog = features.make("hog")
    assert hog.fit_transform(ds.images).shape == (len(ds), 324)  # 3x3 blocks of 2x2 cells x 9
    assert hog.set_params(orientations=8) is hog and hog.orientations == 8
    assert hog.fit_transform(ds.images).shape == (len(ds), 288)  # ... x 8 orientations
    assert hog.n_features_out_ == 288
    with pytest.raises(ValueError, match="Invalid parameter 'orientation'"):
        hog.set_params(orientation=8)


@pytest.mark.parametrize("name", ["raw", "hog", "pca"])
def test_fit_transform_equals_fit_then_transform(ds: Dataset, name: str) -> None:
    extractor = features.make(name)
    X = extractor.fit_transform(ds.images)
    assert X.dtype == np.float32 and X.ndim == 2 and len(X) == len(ds)
    np.testing.assert_array_equal(X, features.make(name).fit(ds.images).transform(ds.images))
    # flat rows [n, 784] are the same images
    rows = ds.images.reshape(len(ds), -1)
    np.testing.assert_array_equal(X, features.make(name).fit_transform(rows))
    np.testing.assert_array_equal(X, extractor.transform(rows))


def test_raw_is_pixels_over_255(ds: Dataset) -> None:
    X = features.make("raw").fit_transform(ds.images)
    expected = ds.images.reshape(len(ds), -1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(X, expected)


def test_pipeline_of_extractor_and_backend(ds: Dataset) -> None:
    pipe = make_pipeline(features.make("raw"), clustering.make("sklearn", n_clusters=3))
    assert pipe.fit(ds.images) is pipe
    raw = features.make("raw").fit_transform(ds.images)
    by_hand = clustering.make("sklearn", n_clusters=3).fit(raw)
    np.testing.assert_array_equal(pipe[-1].labels_, by_hand.labels_)
    np.testing.assert_array_equal(pipe.predict(ds.images), by_hand.labels_)
    labels = clone(pipe).fit_predict(ds.images)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, by_hand.labels_)
    # nested parameters reach the steps
    hog_pipe = make_pipeline(features.make("hog"), clustering.make("faiss", n_clusters=10))
    hog_pipe.set_params(hog__orientations=8, faisskmeans__niter=5)
    assert hog_pipe.fit(ds.images)[-1].cluster_centers_.shape == (10, 288)


@pytest.mark.parametrize("name", BUILTIN_BACKENDS)
def test_fit_predict_on_every_backend(blobs: tuple[np.ndarray, np.ndarray], name: str) -> None:
    if name == "dask" and importlib.util.find_spec("dask_ml") is None:
        pytest.skip("dask-ml is not installed")
    X, _ = blobs
    params = {"init_max_iter": 2} if name == "dask" else {}
    if clustering.BACKENDS.load(name).chooses_k:  # no n_clusters; clusters of 100 rows here
        params |= {"min_cluster_size": 20, "min_samples": 5}
    else:
        params["n_clusters"] = 3
    model = clustering.make(name, seed=0, threads=1, **params)
    labels = model.fit_predict(X)
    assert labels.dtype == np.int64 and labels.shape == (len(X),)
    np.testing.assert_array_equal(labels, model.labels_)
    # a transductive backend's predict (the nearest centre) agrees on blobs this clear
    np.testing.assert_array_equal(labels, model.predict(X))
    assert model.cluster_centers_.dtype == np.float32 and model.cluster_centers_.shape == (3, 5)
    assert model.n_features_in_ == 5 and model.n_iter_ >= 1
    assert set(np.unique(labels)) == {0, 1, 2}
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "labels_")


@pytest.mark.parametrize("name", ["lenet", "convnet"])
def test_cnn_clone_get_params_set_params(name: str) -> None:
    cnn = features.make(name, epochs=3)
    params = cnn.get_params()
    assert set(params) == {
        "layer",
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "seed",
        "threads",
    }
    assert params["epochs"] == 3
    copy = clone(cnn)
    assert copy is not cnn and type(copy) is type(cnn) and copy.get_params() == params
    assert cnn.set_params(layer="logits", seed=4) is cnn
    assert cnn.get_params() == {**params, "layer": "logits", "seed": 4}
    assert clone(cnn).get_params()["seed"] == 4
    with pytest.raises(ValueError, match="Invalid parameter 'dropout'"):
        cnn.set_params(dropout=0.5)
    assert cnn.supervised is True


#: The parameters of the plug-ins left out of the checks for their cost, other than the CNNs.
NOT_CHECKED_PARAMS = {
    "umap": {
        "n_neighbors": 20,
        "min_dist": 0.0,
        "n_components": 10,
        "metric": "euclidean",
        "seed": 0,
        "parallel": False,
        "threads": 0,
    },
    "autoencoder": {
        "hidden": (500, 500, 2000),
        "code_dim": 10,
        "epochs": 20,
        "batch_size": 256,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "seed": 0,
        "threads": 0,
    },
}


@pytest.mark.parametrize(
    ("name", "change"),
    [("umap", {"n_neighbors": 12, "seed": 3}), ("autoencoder", {"epochs": 2, "hidden": [64]})],
)
def test_label_free_clone_get_params_set_params(name: str, change: dict) -> None:
    extractor = features.make(name)
    params = extractor.get_params()
    assert params == NOT_CHECKED_PARAMS[name]  # complete: what the cache key is made of
    copy = clone(extractor)
    assert copy is not extractor and type(copy) is type(extractor)
    assert copy.get_params() == params
    assert extractor.set_params(**change) is extractor
    assert extractor.get_params() == {**params, **change}
    assert clone(extractor).get_params() == {**params, **change}
    with pytest.raises(ValueError, match="Invalid parameter 'dropout'"):
        extractor.set_params(dropout=0.5)
    assert extractor.supervised is False and extractor.deterministic is True


def test_label_free_flags() -> None:
    """What the grid reads off each new plug-in before running it."""
    umap = features.make("umap")
    assert umap.transductive is True and umap.uses_cache is False
    # deterministic follows `parallel`, through set_params and clone
    assert umap.set_params(parallel=True).deterministic is False
    assert clone(umap).deterministic is False
    assert umap.set_params(parallel=False).deterministic is True
    autoencoder = features.make("autoencoder")
    assert autoencoder.uses_cache is True and autoencoder.transductive is False
    pca = features.make("pca")
    assert (pca.transductive, pca.uses_cache, pca.supervised, pca.deterministic) == (
        False,
        False,
        False,
        True,
    )
    assert clustering.make("gmm").objective == "log_likelihood"
    for name in BUILTIN_BACKENDS:
        assert clustering.BACKENDS.load(name).objective in OBJECTIVES


def test_gmm_score_is_the_mean_log_likelihood(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    gmm = clustering.make("gmm", n_clusters=3, seed=0, threads=1).fit(X)
    assert np.isfinite(gmm.score(X))
    np.testing.assert_allclose(gmm.score(X), gmm.model_.score(X.astype(np.float64)))
    # the grid's BIC, from the log-likelihood it records, is scikit-learn's bit for bit
    assert bic(gmm.score(X) * len(X), gmm.n_parameters(), len(X)) == gmm.bic(X)
    d = X.shape[1]  # means, full d x d covariances (symmetric), weights summing to 1
    assert gmm.n_parameters() == 3 * d + 3 * d * (d + 1) // 2 + 2
    # the means are the centres the suite computes WCSS from
    np.testing.assert_allclose(gmm.cluster_centers_, gmm.model_.means_, rtol=1e-6)
    np.testing.assert_array_equal(gmm.predict(X), gmm.labels_)


@pytest.mark.parametrize(("threads", "blas_threads", "expected"), [(2, 1, 1), (1, 2, 1), (2, 2, 2)])
def test_gmm_caps_blas_at_blas_threads_within_threads(
    blobs: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
    blas_threads: int,
    expected: int,
) -> None:
    from sklearn.mixture import GaussianMixture

    seen: list[int] = []
    fit = GaussianMixture.fit

    def spy(self: GaussianMixture, X: np.ndarray, y: Any = None) -> GaussianMixture:
        seen.extend(pool["num_threads"] for pool in _blas_pools())
        return fit(self, X, y)

    monkeypatch.setattr(GaussianMixture, "fit", spy)
    model = clustering.make("gmm", n_clusters=3, threads=threads, blas_threads=blas_threads)
    model.fit(blobs[0])
    assert seen and all(n <= expected for n in seen)
    assert max(seen) == min(expected, max(pool["num_threads"] for pool in _blas_pools()))


def _blas_pools() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [pool for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_pca_refuses_more_components_than_it_can_fit(ds: Dataset) -> None:
    with pytest.raises(ValueError, match=r"n_components=20 must be <= .* = 10"):
        features.make("pca", n_components=20).fit(ds.images[:10])
    X = features.make("pca", n_components=10).fit_transform(ds.images[:10])
    assert X.shape == (10, 10) and X.dtype == np.float32


def test_autoencoder_refuses_bad_layer_widths(ds: Dataset) -> None:
    for hidden in ([], [32, 0], [32.5]):
        with pytest.raises(ValueError, match=r"hidden must list layer widths >= 1"):
            features.make("autoencoder", hidden=hidden).fit(ds.images[:10])  # before TensorFlow


# -- declared parameter checks: sklearn's InvalidParameterError, raised by fit -----------------


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sklearn", {"algorithm": "full"}, r"'algorithm' parameter of SklearnKMeans must be a str"),
        ("sklearn", {"max_iter": 0}, r"'max_iter' parameter .* range \[1, inf\)\. Got 0"),
        ("sklearn", {"n_init": 0}, r"'n_init' parameter .* range \[1, inf\)\. Got 0"),
        ("sklearn", {"tol": -1.0}, r"'tol' parameter .* range \[0\.0, inf\)\. Got -1\.0"),
        ("sklearn", {"threads": 0}, r"'threads' parameter .* range \[1, inf\)\. Got 0"),
        ("faiss", {"niter": 0}, r"'niter' parameter of FaissKMeans .* Got 0"),
        ("faiss", {"nredo": 0}, r"'nredo' parameter of FaissKMeans .* Got 0"),
        ("faiss", {"niter": 2**31}, r"'niter' parameter of FaissKMeans .* Got 2147483648"),
        ("faiss", {"nredo": 2**31}, r"'nredo' parameter of FaissKMeans .* Got 2147483648"),
        ("faiss", {"n_clusters": 0}, r"'n_clusters' parameter of FaissKMeans .* Got 0"),
        ("faiss", {"seed": -1}, r"'seed' parameter of FaissKMeans .* Got -1"),
        ("dask", {"max_iter": 0}, r"'max_iter' parameter of DaskKMeans .* Got 0"),
        ("dask", {"init": "k-means++"}, r"'init' parameter of DaskKMeans must be a str among"),
        ("dask", {"tol": -1e-3}, r"'tol' parameter of DaskKMeans"),
        ("dask", {"init_max_iter": 0}, r"'init_max_iter' parameter of DaskKMeans"),
        ("gmm", {"covariance_type": "bogus"}, r"'covariance_type' parameter of GMM must be a str"),
        ("gmm", {"n_init": 0}, r"'n_init' parameter of GMM .* Got 0"),
        ("gmm", {"max_iter": 0}, r"'max_iter' parameter of GMM .* Got 0"),
        ("gmm", {"reg_covar": -1e-6}, r"'reg_covar' parameter of GMM"),
        ("gmm", {"threads": 0}, r"'threads' parameter of GMM .* Got 0"),
        ("gmm", {"blas_threads": 0}, r"'blas_threads' parameter of GMM .* Got 0"),
    ],
)
def test_backend_parameters_are_checked_by_fit(
    blobs: tuple[np.ndarray, np.ndarray], name: str, params: dict, message: str
) -> None:
    model = clustering.make(name, **{"n_clusters": 3, **params})  # __init__ only stores
    with pytest.raises(InvalidParameterError, match=message) as info:
        model.fit(blobs[0])  # the dask one fails before any cluster starts
    assert isinstance(info.value, ValueError)


def _number_parameters() -> list[tuple[str, str, str]]:
    """``(kind, plug-in, parameter)`` of every built-in parameter that takes no boolean."""
    found = []
    for kind, registry, names in (
        ("extractor", features.EXTRACTORS, BUILTIN_EXTRACTORS),
        ("backend", clustering.BACKENDS, BUILTIN_BACKENDS),
    ):
        for name in names:
            for param, allowed in registry.load(name)._parameter_constraints.items():
                if "boolean" not in [c for c in allowed if isinstance(c, str)]:
                    found.append((kind, name, param))
    return found


@pytest.mark.parametrize(("kind", "name", "param"), _number_parameters())
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_refused_where_a_number_is_expected(
    ds: Dataset,
    blobs: tuple[np.ndarray, np.ndarray],
    kind: str,
    name: str,
    param: str,
    value: bool,
) -> None:
    """scikit-learn's Interval(Integral) takes True as 1: a TOML ``n_init = true`` is refused."""
    if kind == "extractor":
        model, X, y = features.make(name, **{param: value}), ds.images, ds.labels
    else:
        model, X, y = clustering.make(name, **{param: value}), blobs[0], None
    with pytest.raises(InvalidParameterError, match=rf"'{param}' parameter of \w+ must not be a"):
        model.fit(X, y)


def test_booleans_are_taken_where_a_parameter_is_one(ds: Dataset) -> None:
    assert features.make("pca", n_components=5, whiten=True).fit(ds.images).transform(
        ds.images
    ).shape == (len(ds.images), 5)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("hog", {"block_norm": "L3"}, r"'block_norm' parameter of HOG must be a str among"),
        ("hog", {"orientations": 0}, r"'orientations' parameter of HOG .* Got 0"),
        ("hog", {"pixels_per_cell": 2.5}, r"'pixels_per_cell' parameter of HOG .* Got 2\.5"),
        ("hog", {"cells_per_block": -1}, r"'cells_per_block' parameter of HOG .* Got -1"),
        ("lenet", {"layer": "pool1"}, r"'layer' parameter of LeNet must be a str among"),
        ("convnet", {"optimizer": "rmsprop"}, r"'optimizer' parameter of ConvNet"),
        ("lenet", {"epochs": 0}, r"'epochs' parameter of LeNet .* Got 0"),
        ("convnet", {"learning_rate": 0.0}, r"'learning_rate' parameter of ConvNet"),
        ("lenet", {"threads": -1}, r"'threads' parameter of LeNet .* Got -1"),
        ("pca", {"n_components": 0}, r"'n_components' parameter of PCA .* Got 0"),
        ("pca", {"whiten": "yes"}, r"'whiten' parameter of PCA must be an instance of 'bool'"),
        ("pca", {"threads": -1}, r"'threads' parameter of PCA .* Got -1"),
        ("umap", {"n_neighbors": 1}, r"'n_neighbors' parameter of UMAP .* Got 1"),
        ("umap", {"metric": "hamming"}, r"'metric' parameter of UMAP must be a str among"),
        ("umap", {"min_dist": -0.1}, r"'min_dist' parameter of UMAP .* Got -0\.1"),
        ("umap", {"n_components": 0}, r"'n_components' parameter of UMAP .* Got 0"),
        ("umap", {"parallel": "yes"}, r"'parallel' parameter of UMAP"),
        ("autoencoder", {"epochs": 0}, r"'epochs' parameter of Autoencoder .* Got 0"),
        ("autoencoder", {"code_dim": 0}, r"'code_dim' parameter of Autoencoder .* Got 0"),
        ("autoencoder", {"optimizer": "rmsprop"}, r"'optimizer' parameter of Autoencoder"),
        ("autoencoder", {"learning_rate": 0.0}, r"'learning_rate' parameter of Autoencoder"),
        ("autoencoder", {"hidden": 500}, r"'hidden' parameter of Autoencoder must be an instance"),
    ],
)
def test_extractor_parameters_are_checked_by_fit(
    ds: Dataset, name: str, params: dict, message: str
) -> None:
    extractor = features.make(name, **params)
    with pytest.raises(InvalidParameterError, match=message):
        # CNNs and the autoencoder: before TensorFlow trains; umap: before numba compiles
        extractor.fit(ds.images[:10], ds.labels[:10])


def test_hog_refuses_images_smaller_than_one_block() -> None:
    with pytest.raises(ValueError, match=r"hog: images of 10x10 pixels are smaller than one block"):
        features.make("hog").fit(np.zeros((2, 10, 10), dtype=np.uint8))
    small = features.make("hog", pixels_per_cell=5).fit(np.zeros((2, 10, 10), dtype=np.uint8))
    assert small.transform(np.zeros((3, 100), dtype=np.uint8)).shape == (3, 36)

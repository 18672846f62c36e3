"""Features of every image of a dataset, by one extractor or a chain of them, through the cache.

A chain (``autoencoder`` then ``umap``, as N2D) is a list of steps, each an extractor with its
parameters: the first step sees the images, each later step the previous step's features. Every
step's output is cached under a key of the dataset and the steps up to it (names, parameters,
code versions and the library versions they declare), so chains that share a first step share
its work, and a one-step chain is the plain extractor with the same cache entry.

How a step is fitted depends on what it is:

- supervised (a CNN): fitted on the training images only, scored on the test images; the
  features of all images are then computed block by block;
- transductive (UMAP): its features are its embedding of the images it is fitted on
  (``fit_transform``), one block;
- otherwise: fitted on all images being clustered (label-free), then transformed block by block
  (``threads`` processes for large sets), written to the cache as the blocks come.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from mnist_bench import features
from mnist_bench.core import numerics
from mnist_bench.core.cache import Cache, finite_rows, make_key
from mnist_bench.core.errors import UserError
from mnist_bench.core.system import say, usable_cores
from mnist_bench.data import datasets
from mnist_bench.grid.chunks import transform_blocks

#: One step of a chain: an extractor's name and its parameters.
Step = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Features:
    """The features of every image of a dataset, with how they were obtained.

    ``meta``: ``transform_s`` (seconds to compute the features from the images, every step's
    fit and transform, training of a supervised extractor aside), ``fit_s`` (fitting or
    training, summed over the steps that learn), ``test_acc`` (a supervised extractor's
    classification accuracy on the test images), ``sha256`` (the digest of the last step's
    cached array: equal digests, equal features). ``library_s``: the seconds this call spent in
    the extractors' own fit, transform and scoring (0 when every step came from the cache).
    """

    name: str
    X: np.ndarray
    supervised: bool
    deterministic: bool
    steps: tuple[str, ...]
    meta: dict[str, Any]
    cached: bool
    library_s: float = 0.0
    #: why these features are not the same on every machine even with the pins (a step's
    #: library: :func:`mnist_bench.core.numerics.library_problem`), None when they are
    unpinned: str | None = None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """What determines a step's output: its name, full parameters (a thread count of 0 named as
    the cores it means), code and library versions."""
    extractor = features.make(name, **params)
    full = extractor.get_params()
    if full.get("threads") == 0:
        full["threads"] = usable_cores()
    return {
        "extractor": name,
        "params": full,
        "version": extractor.version,
        "packages": {dist: _version(dist) for dist in extractor.requires},
    }


def step_key(ds: datasets.Dataset, steps: list[Step]) -> str:
    """The cache key of the output of ``steps`` (a chain prefix) on dataset ``ds``, under the
    kernels this process computes with (:func:`mnist_bench.core.numerics.fingerprint`)."""
    first, *rest = [describe(name, params) for name, params in steps]
    extra = {"then": rest} if rest else {}
    return make_key(
        kind="features",
        dataset=ds.name,
        checksum=ds.checksum,
        numerics=numerics.fingerprint(),
        **first,
        **extra,
    )


def extract(
    ds: datasets.Dataset,
    steps: list[Step],
    cache: Cache,
    threads: int = 1,
    name: str | None = None,
) -> Features:
    """Features of all images of ``ds`` by the chain ``steps``, each step from the cache when there.

    ``name`` is the chain's name in the results (default: the last step's).
    """
    if not steps:
        raise UserError("an extractor needs at least one step")
    name = name or steps[-1][0]
    X: Any = ds.images
    totals = {"transform_s": 0.0, "fit_s": None, "test_acc": None, "sha256": None}
    supervised, deterministic, all_cached, library_s = False, True, True, 0.0
    unpinned: str | None = None
    for i in range(len(steps)):
        step_name, params = steps[i]
        extractor = features.make(step_name, **params)
        if i > 0 and extractor.supervised:
            raise UserError(
                f"extractor {name!r}: step {step_name!r} learns from labels; only the first step "
                "of a chain may be supervised"
            )
        supervised = supervised or bool(extractor.supervised)
        deterministic = deterministic and bool(extractor.deterministic)
        unpinned = unpinned or numerics.library_problem(extractor.requires)
        key = step_key(ds, steps[: i + 1])
        X, meta, cached = cache.array_blocks(
            key,
            lambda e=extractor, s=step_name, x=X: _compute(ds, e, s, x, cache, threads),
            check=lambda array, meta: check_entry(array, meta, len(ds)),
        )
        all_cached = all_cached and cached
        if cached:
            say(f"{step_name}: {X.shape[1]}-d features of {len(ds):,} images from the cache")
        else:
            library_s += float(meta.get("library_s") or 0.0)
        totals["transform_s"] += float(meta.get("transform_s") or 0.0)
        if meta.get("fit_s") is not None:
            totals["fit_s"] = (totals["fit_s"] or 0.0) + float(meta["fit_s"])
        if meta.get("test_acc") is not None:
            totals["test_acc"] = meta["test_acc"]
        totals["sha256"] = meta.get("sha256")
    names = tuple(step for step, _ in steps)
    return Features(
        name, X, supervised, deterministic, names, totals, all_cached, library_s, unpinned
    )


def check_entry(X: np.ndarray, meta: dict[str, Any], n_rows: int) -> None:
    """A cached step output is usable: ``n_rows`` 2-D finite float rows, numeric timings.

    Raises ValueError otherwise (the cache then discards the entry and computes it again).
    """
    if X.ndim != 2 or len(X) != n_rows:
        raise ValueError(f"shape {tuple(X.shape)}, not {n_rows} rows of features")
    if not np.issubdtype(X.dtype, np.floating) or not finite_rows(X):
        raise ValueError("values that are not finite numbers")
    for field in ("transform_s", "fit_s", "test_acc"):
        value = meta.get(field)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value)
        ):
            raise ValueError(f"{field} is {value!r}, not a number")


def _wrong_output(name: str, problem: str) -> None:
    """Refuse what extractor ``name`` returned: one line naming an outside plug-in
    (:class:`UserError`); a bug when it is one of the suite's own (RuntimeError)."""
    if features.EXTRACTORS.is_outside(name):
        raise features.EXTRACTORS.failure(name, problem)
    raise RuntimeError(f"internal error: extractor {name!r} {problem}")


def _accuracy(name: str, value: Any) -> float:
    """A supervised extractor's test accuracy, checked: a number in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not 0 <= float(value) <= 1
    ):
        _wrong_output(name, f"scored its test images {value!r}, not an accuracy in [0, 1]")
    return float(value)


def _compute(
    ds: datasets.Dataset, extractor: Any, name: str, source: Any, cache: Cache, threads: int
) -> tuple[Iterator[np.ndarray], int, dict[str, Any]]:
    """``(blocks, n_rows, meta)`` of one step on ``source`` (the images or earlier features)."""
    say(f"extracting {name} features of {len(ds):,} {ds.name} images ...")
    meta: dict[str, Any] = {"fit_s": None, "test_acc": None}
    start = time.perf_counter()
    blocks: Iterable[np.ndarray]
    # a model an extractor trains (a CNN, the autoencoder) is kept in the cache
    fit_params = {"cache": cache} if extractor.uses_cache else {}
    try:  # plug-ins check their parameters in fit, as scikit-learn estimators do
        with features.EXTRACTORS.calls(name):  # what an outside plug-in raises names it
            if extractor.supervised:
                extractor.fit(source[ds.is_train], ds.labels[ds.is_train], **fit_params)
                meta["fit_s"] = time.perf_counter() - start
                test_acc = extractor.score(source[~ds.is_train], ds.labels[~ds.is_train])
                meta["test_acc"] = _accuracy(name, test_acc)
                fitted_s = time.perf_counter() - start  # training and scoring: the plug-in's
                start = time.perf_counter()
                blocks = transform_blocks(extractor, source, 1)
            elif extractor.transductive:
                X = extractor.fit_transform(source, **fit_params)
                blocks = [np.ascontiguousarray(X, dtype=np.float32)]
                meta["fit_s"] = fitted_s = time.perf_counter() - start
            else:
                extractor.fit(source, **fit_params)
                meta["fit_s"] = fitted_s = time.perf_counter() - start
                blocks = transform_blocks(extractor, source, threads)
    except ValueError as exc:
        raise UserError(f"extractor {name!r}: {exc}") from None

    def checked() -> Iterator[np.ndarray]:
        rows, bad, dim = 0, 0, None
        meta["library_s"] = fitted_s
        pending = iter(blocks)
        while True:
            waited = time.perf_counter()
            with features.EXTRACTORS.calls(name):
                X = next(pending, None)  # the transform of one block (or waiting for a worker)
            meta["library_s"] += time.perf_counter() - waited
            if X is None:
                break
            if X.ndim != 2 or X.shape[1] < 1 or X.shape[1] != (dim or X.shape[1]):
                want = f"[n, {dim}]" if dim else "[n, d] with d >= 1"
                _wrong_output(name, f"returned features of shape {X.shape}, not {want}")
            if rows + len(X) > len(ds):
                _wrong_output(name, f"returned more rows than the {len(ds)} images")
            rows, dim = rows + len(X), X.shape[1]
            bad += int((~np.isfinite(X)).any(axis=1).sum())
            yield X
        if rows != len(ds):
            _wrong_output(name, f"returned {rows} rows for {len(ds)} images")
        if bad:
            what = f"extractor {name!r} produced NaN or inf features for {bad} images"
            if features.EXTRACTORS.is_outside(name):
                what += f" (plug-in {name!r}, from {features.EXTRACTORS.get(name).distribution})"
            raise UserError(what)
        # a label-free fit is part of extraction; a supervised extractor's training is not
        meta["transform_s"] = time.perf_counter() - start
        say(f"  {name}: {dim}-d in {meta['transform_s']:.1f} s")

    return checked(), len(ds), meta

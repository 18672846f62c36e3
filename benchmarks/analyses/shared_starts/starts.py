"""Shared starts: k-means++ centres drawn once and given to every k-means backend.

A config's ``[shared_starts]`` table names ``extractors``, ``backends`` (those whose
``accepts_init`` is true) and ``iterations`` (default :data:`SHARED_ITERATIONS`)::

    [shared_starts]
    extractors = ["raw", "hog"]
    backends = ["sklearn", "faiss"]
    iterations = 25

For each (split, extractor) among them, at eval_k and on every seed, the runner draws k-means++
centres once (:func:`kmeans_plusplus_start`: scikit-learn's ``kmeans_plusplus`` seeded by the
seed, kept by :class:`Starts`) and runs every backend from them for the same number of Lloyd
iterations with no tolerance (each backend's ``start_params``), on top of the parameters the
grid gives it. The same algorithm from the same start then ends at the same WCSS up to float
rounding, and what differs between the libraries is their speed (the report's section:
:mod:`mnist_bench.analyses.shared_starts.report`).

Their rows name the backend ``{backend}@shared``
(:func:`mnist_bench.core.vocabulary.shared_backend`), so the row key stays unique, and have
``init = "shared"``. A comparison needs two libraries: the shared starts of an extractor run only
when at least two of the table's backends run on it in this grid (CLI
``--extractors``/``--backends`` narrow them like the rest of the grid).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_bench import clustering
from mnist_bench.clustering.base import as_rows
from mnist_bench.core.errors import UserError

#: Iterations of every backend from a shared start, unless ``shared_starts.iterations`` says.
SHARED_ITERATIONS = 25


def check_shared_starts(table: Any) -> None:
    """Check a ``[shared_starts]`` table (empty: none); a :class:`UserError` names the mistake."""
    known = {"extractors", "backends", "iterations"}
    if not isinstance(table, dict) or set(table) - known:
        raise UserError(
            "shared_starts must be a table of extractors = [names], backends = [names] and "
            "iterations = N"
        )
    for key in ("extractors", "backends"):
        names = table.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UserError(f"shared_starts.{key} must be a list of names")
        twice = [name for i, name in enumerate(names) if name in names[:i]]
        if twice:
            raise UserError(f"shared_starts.{key}: {twice[0]!r} is listed twice")
    iterations = table.get("iterations", SHARED_ITERATIONS)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise UserError(f"shared_starts.iterations must be an integer >= 1, got {iterations!r}")
    for name in table.get("backends", []):
        if not clustering.BACKENDS.load(name).accepts_init:
            raise UserError(
                f"shared_starts.backends: backend {name!r} cannot start from given centres "
                "(only backends whose accepts_init is true can)"
            )


def backends_for(table: Mapping[str, Any], extractor: str, running: list[str]) -> list[str]:
    """The backends that run from shared starts on ``extractor``, of those ``running`` on it."""
    if extractor not in table.get("extractors", []):
        return []
    names = [b for b in table.get("backends", []) if b in running]
    return names if len(names) >= 2 else []


def start_params(
    table: Mapping[str, Any], backend: str, params: dict[str, Any], init: np.ndarray
) -> dict[str, Any]:
    """``params`` of ``backend`` with those that run it from ``init`` for the fixed iterations."""
    klass = clustering.BACKENDS.load(backend)
    return {**params, **klass.start_params(init, table.get("iterations", SHARED_ITERATIONS))}


def recorded_params(params: dict[str, Any]) -> str:
    """The ``backend_params`` column of a shared-start row: the centres recorded as ``"shared"``."""
    return json.dumps({**params, "init": "shared"}, sort_keys=True)


def kmeans_plusplus_start(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ centres of the rows of ``X`` (``sklearn.cluster.kmeans_plusplus``), float32.

    Drawn on one thread, so a seed gives the same centres whatever the grid's thread count (and
    its products, the distances of a few candidates at a time, are too small for a second
    thread: on a busy machine one took several times longer with two).
    """
    from sklearn.cluster import kmeans_plusplus

    rows = as_rows(X)
    with threadpool_limits(limits=1):
        centres, _ = kmeans_plusplus(rows, k, random_state=seed)
    return np.ascontiguousarray(centres, dtype=np.float32)


class Starts:
    """The k-means++ centres of one feature matrix, drawn once per (k, seed) and kept."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self._drawn: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, k: int, seed: int) -> np.ndarray:
        if (k, seed) not in self._drawn:
            self._drawn[(k, seed)] = kmeans_plusplus_start(self.X, k, seed)
        return self._drawn[(k, seed)]

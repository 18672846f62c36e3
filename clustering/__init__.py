"""Clustering backend plug-ins: one small module each, found by the ``mnist_bench.backends``
entry-point group and imported only when used (FAISS or Dask load only for their cells).

To add a backend: write one module here with a class derived from
:class:`mnist_bench.clustering.base.BaseBackend` (a scikit-learn clusterer), then add one line
``name = "mnist_bench.clustering.module:Class"`` under
``[project.entry-points."mnist_bench.backends"]`` in ``pyproject.toml``. Another installed
distribution adds its own the same way.
"""

from __future__ import annotations

from typing import Any

from mnist_bench.clustering.base import Backend
from mnist_bench.core.registry import Registry

BACKENDS = Registry("backend", "mnist_bench.backends")


def make(name: str, **params: Any) -> Backend:
    """Instantiate backend ``name`` with keyword ``params`` (n_clusters, seed, threads, ...)."""
    return BACKENDS.make(name, **params)

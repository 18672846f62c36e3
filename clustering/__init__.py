"""Clustering backend plug-ins: one small module each, found by the ``mnist_bench.backends``
entry-point group and imported only when used (FAISS or Dask load only for their cells).

The built-in ones: k-means three ways (``sklearn``, ``faiss``, ``dask``) and mini-batch
(``minibatch``), a Gaussian mixture (``gmm``), and three that are not k-means: density
(``hdbscan``, in density.py: it finds its own number of clusters and leaves noise), Ward's
hierarchical clustering (``ward``) and spectral clustering (``spectral``), both on a
k-nearest-neighbour graph.

To add a backend: write one module here with a class derived from
:class:`mnist_bench.clustering.base.BaseBackend` (a scikit-learn clusterer), then add one line
``name = "mnist_bench.clustering.module:Class"`` under
``[project.entry-points."mnist_bench.backends"]`` in ``pyproject.toml``. Another installed
distribution adds its own the same way. A backend that is not k-means-like says what it is by
three class flags the grid reads (``chooses_k``, ``deterministic``, ``transductive``: see
:mod:`mnist_bench.clustering.base`).
"""

from __future__ import annotations

from typing import Any

from mnist_bench.clustering.base import Backend
from mnist_bench.core.registry import Registry

BACKENDS = Registry("backend", "mnist_bench.backends")


def make(name: str, **params: Any) -> Backend:
    """Instantiate backend ``name`` with keyword ``params`` (n_clusters, seed, threads, ...)."""
    return BACKENDS.make(name, **params)

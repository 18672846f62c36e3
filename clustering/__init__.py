"""Clustering backend plug-ins, registered by name and imported lazily.

To add a backend: write one module here with a class following
:class:`clustering.base.Clusterer`, then add one line to ``REGISTRY`` below.
Nothing is imported until :func:`make` is called, so FAISS or Dask load only when used.
"""

from __future__ import annotations

from typing import Any

from benchmarks.registry import instantiate
from clustering.base import Clusterer

#: name -> ("module:Class", one-line description)
REGISTRY: dict[str, tuple[str, str]] = {
    "sklearn": (
        "clustering.sklearn_kmeans:SklearnKMeans",
        "scikit-learn KMeans (lloyd, k-means++, n_init=1)",
    ),
    "faiss": ("clustering.faiss_kmeans:FaissKMeans", "FAISS Kmeans on all points (no subsampling)"),
    "dask": ("clustering.dask_kmeans:DaskKMeans", "dask-ml KMeans (k-means||) on dask.distributed"),
}


def make(name: str, **params: Any) -> Clusterer:
    """Instantiate backend ``name`` with keyword ``params`` (n_clusters, seed, n_threads, ...)."""
    return instantiate(REGISTRY, "backend", name, params)

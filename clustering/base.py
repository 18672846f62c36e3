"""The backend protocol: a scikit-learn style clusterer over float32 rows."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Clusterer(Protocol):
    """What every clustering backend provides.

    ``__init__`` takes keyword parameters (at least ``n_clusters``, ``seed``, ``n_threads``) and
    only stores them. :meth:`fit` sets ``cluster_centers_`` (float32 ``[k, d]``), ``labels_``
    (int64 ``[n]``: each point's nearest centre) and ``n_iter_``; it returns ``self``.
    The suite computes WCSS itself from the centres: a backend's own objective is never used.
    """

    n_clusters: int
    seed: int
    n_threads: int

    def get_params(self) -> dict[str, Any]: ...

    def fit(self, X: np.ndarray) -> Clusterer: ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest centre for each row of ``X``."""
        ...

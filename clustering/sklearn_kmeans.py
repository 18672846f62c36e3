"""``sklearn``: scikit-learn's KMeans (Lloyd, k-means++ init, one init by default), threads pinned.

``n_init = 10`` reproduces the seed blog's protocol (scikit-learn's default before 1.4): the best
of ten k-means++ starts by inertia, at ten times the cost.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.params import ParamsMixin


class SklearnKMeans(ParamsMixin):
    """scikit-learn ``KMeans(init="k-means++", n_init=n_init, random_state=seed)``."""

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        n_threads: int = 1,
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        algorithm: str = "lloyd",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.n_threads = n_threads
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm

    def fit(self, X: np.ndarray) -> SklearnKMeans:
        from sklearn.cluster import KMeans

        self.model_ = KMeans(
            n_clusters=self.n_clusters,
            init="k-means++",
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            algorithm=self.algorithm,
            random_state=self.seed,
        )
        with threadpool_limits(limits=self.n_threads):
            self.model_.fit(X)
        self.cluster_centers_ = self.model_.cluster_centers_.astype(np.float32)
        self.labels_ = self.model_.labels_.astype(np.int64)
        self.n_iter_ = int(self.model_.n_iter_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads):
            return self.model_.predict(X).astype(np.int64)

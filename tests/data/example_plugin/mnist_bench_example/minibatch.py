"""``minibatch``: scikit-learn's MiniBatchKMeans (an example backend plug-in)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from mnist_bench.clustering.base import BaseBackend


class MiniBatch(BaseBackend):
    """scikit-learn ``MiniBatchKMeans(batch_size=batch_size, random_state=seed)``."""

    def __init__(
        self,
        *,
        n_clusters: int = 10,  # n_clusters, seed and threads are set by the grid
        seed: int = 0,
        threads: int = 1,  # the base class pins the BLAS/OpenMP threads to this
        batch_size: int = 1024,
        max_iter: int = 100,
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.batch_size = batch_size
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        model = MiniBatchKMeans(
            n_clusters=self.n_clusters,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            n_init=1,
            random_state=self.seed,
        ).fit(X)
        return model.cluster_centers_, model.labels_, model.n_iter_

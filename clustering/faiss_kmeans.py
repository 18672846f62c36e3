"""``faiss``: FAISS k-means on every point (FAISS subsamples to 256 per centroid by default)."""

from __future__ import annotations

import numpy as np

from benchmarks.params import ParamsMixin


class FaissKMeans(ParamsMixin):
    """``faiss.Kmeans(d, k, niter=niter, seed=seed, max_points_per_centroid=n)``.

    ``max_points_per_centroid`` is raised to cover all ``n`` points so that the comparison with
    scikit-learn is made on the same data; set ``subsample=True`` to get FAISS' default sampling.
    """

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        n_threads: int = 1,
        niter: int = 25,
        nredo: int = 1,
        subsample: bool = False,
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.n_threads = n_threads
        self.niter = niter
        self.nredo = nredo
        self.subsample = subsample

    def fit(self, X: np.ndarray) -> FaissKMeans:
        import faiss

        X = np.ascontiguousarray(X, dtype=np.float32)
        faiss.omp_set_num_threads(self.n_threads)
        extra = {} if self.subsample else {"max_points_per_centroid": -(-len(X) // self.n_clusters)}
        self.model_ = faiss.Kmeans(
            X.shape[1],
            self.n_clusters,
            niter=self.niter,
            nredo=self.nredo,
            seed=self.seed,
            verbose=False,
            **extra,
        )
        self.model_.train(X)
        self.cluster_centers_ = np.array(self.model_.centroids, dtype=np.float32)
        self.labels_ = self.predict(X)
        self.n_iter_ = self.niter
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        import faiss

        faiss.omp_set_num_threads(self.n_threads)
        _, idx = self.model_.index.search(np.ascontiguousarray(X, dtype=np.float32), 1)
        return idx[:, 0].astype(np.int64)

"""``faiss``: FAISS k-means on every point (FAISS subsamples to 256 per centroid by default).

``init`` may be given centres (an array ``[k, d]``, passed to ``train(..., init_centroids=)``),
from which the grid's shared starts run a fixed number of iterations.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from mnist_bench.clustering.base import BaseBackend, as_centres
from mnist_bench.core.params import Interval, StrOptions

#: ``init`` values besides an array of centres: FAISS' own start (a seeded random sample of
#: the points).
INITS = ("random",)
#: The largest value FAISS keeps in a C ``int`` (``niter``, ``nredo``).
C_INT_MAX = 2**31 - 1


class FaissKMeans(BaseBackend):
    """``faiss.Kmeans(d, k, niter=niter, seed=seed, max_points_per_centroid=n)``.

    ``max_points_per_centroid`` is raised to cover all ``n`` points so that the comparison with
    scikit-learn is made on the same data; set ``subsample=True`` to get FAISS' default sampling.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``threads`` is FAISS' OpenMP thread count.
    niter : k-means iterations (an integer >= 1; FAISS runs exactly that many).
    nredo : runs from different random starts; the best by objective is kept (integer >= 1).
    subsample : let FAISS sample 256 points per centroid (its default) instead of using all.
    init : ``"random"`` (FAISS' own start, seeded by ``seed``) or the starting centres, an array
        ``[k, d]`` (then ``nredo`` must be 1).

    Fitted attributes: ``cluster_centers_`` (float32), ``labels_`` and ``n_iter_`` (= ``niter``).
    Labels come from a FAISS ``IndexFlatL2`` over the centres, the index ``faiss.Kmeans`` itself
    searches; it is built when needed, so a fitted backend pickles (FAISS objects do not).
    """

    accepts_init: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "init": [StrOptions(set(INITS)), "array-like"],
        "niter": [Interval(Integral, 1, C_INT_MAX, closed="both")],
        "nredo": [Interval(Integral, 1, C_INT_MAX, closed="both")],
        "subsample": ["boolean"],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        niter: int = 25,
        nredo: int = 1,
        subsample: bool = False,
        init: str | np.ndarray = "random",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.niter = niter
        self.nredo = nredo
        self.subsample = subsample
        self.init = init

    @classmethod
    def start_params(cls, init: np.ndarray, iterations: int) -> dict[str, Any]:
        """``init`` = the centres, ``niter`` = ``iterations``, one run (FAISS has no tolerance)."""
        return {"init": init, "niter": iterations, "nredo": 1}

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        import faiss

        centres = None
        if not isinstance(self.init, str):
            centres = as_centres(self.init, self.n_clusters, X.shape[1])
            if self.nredo != 1:
                raise ValueError("nredo must be 1 when init is an array of centres")
        faiss.omp_set_num_threads(self.threads)
        extra = {} if self.subsample else {"max_points_per_centroid": -(-len(X) // self.n_clusters)}
        kmeans = faiss.Kmeans(
            X.shape[1],
            self.n_clusters,
            niter=self.niter,
            nredo=self.nredo,
            seed=self.seed,
            verbose=False,
            **extra,
        )
        kmeans.train(X, init_centroids=centres)
        centers = np.array(kmeans.centroids, dtype=np.float32)
        _, idx = kmeans.index.search(X, 1)
        return centers, idx[:, 0], self.niter

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """No copy of the rows (measured: about 30 bytes a row): assignments and distances
        of training and of the searches, the labels."""
        return n * 48 + k * d * 16

    def _predict(self, X: np.ndarray) -> np.ndarray:
        import faiss

        faiss.omp_set_num_threads(self.threads)
        index = faiss.IndexFlatL2(self.cluster_centers_.shape[1])
        index.add(self.cluster_centers_)
        _, idx = index.search(X, 1)
        return idx[:, 0]

"""``sklearn``: scikit-learn's KMeans (Lloyd, k-means++ init, one init by default), threads pinned.

``n_init = 10`` reproduces the seed blog's protocol (scikit-learn's default before 1.4): the best
of ten k-means++ starts by inertia, at ten times the cost. ``init`` may be given centres (an
array ``[k, d]``), from which the grid's shared starts run a fixed number of iterations.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np

from mnist_bench.clustering.base import BaseBackend, sklearn_init
from mnist_bench.core.params import Interval, StrOptions

#: ``algorithm`` values (scikit-learn's KMeans).
ALGORITHMS = ("lloyd", "elkan")
#: ``init`` values besides an array of centres.
INITS = ("k-means++",)


class SklearnKMeans(BaseBackend):
    """scikit-learn ``KMeans(init=init, n_init=n_init, random_state=seed)``.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``threads`` caps KMeans' OpenMP and BLAS threads.
    n_init : k-means++ starts; the best by inertia is kept (an integer >= 1).
    max_iter : Lloyd (or Elkan) iterations at most per start (an integer >= 1).
    tol : relative tolerance on the centres' shift (>= 0).
    algorithm : ``"lloyd"`` or ``"elkan"``.
    init : ``"k-means++"`` (seeded by ``seed``) or the starting centres, an array ``[k, d]``
        (then ``n_init`` must be 1).

    Fitted attributes: ``cluster_centers_`` (float32), ``labels_``, ``n_iter_`` and ``model_``
    (the fitted scikit-learn KMeans, whose ``predict`` this backend's ``predict`` uses).
    """

    accepts_init: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "init": [StrOptions(set(INITS)), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "algorithm": [StrOptions(set(ALGORITHMS))],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        algorithm: str = "lloyd",
        init: str | np.ndarray = "k-means++",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm
        self.init = init

    @classmethod
    def start_params(cls, init: np.ndarray, iterations: int) -> dict[str, Any]:
        """``init`` = the centres, one start, ``max_iter`` = ``iterations``, ``tol`` = 0.

        scikit-learn then stops before ``iterations`` only when no label changed (a fixed
        point, where more iterations would change nothing).
        """
        return {"init": init, "n_init": 1, "max_iter": iterations, "tol": 0.0}

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from sklearn.cluster import KMeans

        init = sklearn_init(self.init, self.n_clusters, self.n_init, X.shape[1])
        self.model_ = KMeans(
            n_clusters=self.n_clusters,
            init=init,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            algorithm=self.algorithm,
            random_state=self.seed,
        )
        self.model_.fit(X)  # the base holds the thread pools at ``threads``
        return self.model_.cluster_centers_, self.model_.labels_, self.model_.n_iter_

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Two float32 copies of the rows (measured: KMeans copies and centres them), labels,
        weights and norms per row; Elkan's bounds, n x k."""
        bounds = n * k * 8 if self.algorithm == "elkan" else 0
        return 2 * n * d * 4 + n * 32 + bounds + k * d * 32

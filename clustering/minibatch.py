"""``minibatch``: scikit-learn's MiniBatchKMeans, the usual answer to "k-means is too slow".

Each step moves the centres towards the means of a random batch of rows instead of all of them;
it stops after ``max_iter`` passes over the data, or sooner when the smoothed inertia of the
batches has not improved for ``max_no_improvement`` steps. The objective is WCSS, as k-means'.

``batch_size`` is 1024, scikit-learn's default (``256 x cores`` keeps its OpenMP threads busy,
so 512 would already do on 2 cores). Measured without labels on the cached 70,000-image
features (10 seeds each, k = 10, 2 shared cores), 4096 was no better: the median WCSS of 1024
was lower on the UMAP (84,205 against 88,074) and PCA-50 features (2,132,799 against
2,141,406) and 0.02% higher on N2D, and the CPU time of the ten fits 5.6, 5.8 and 4.7 s
against 3.2, 7.8 and 3.5 s (N2D, UMAP, PCA). scikit-learn's KMeans fits those 10-d rows in
0.1-0.2 s of CPU: mini-batches pay off only on more rows or wider features.

It is not offered for the grid's shared starts (``accepts_init`` is false): those run every
backend for the same number of Lloyd iterations and compare libraries of one algorithm, and a
mini-batch step is not a Lloyd iteration. ``init`` still takes given centres.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np

from mnist_bench.clustering.base import BaseBackend, sklearn_init
from mnist_bench.core.params import Interval, StrOptions

#: ``init`` values besides an array of centres.
INITS = ("k-means++", "random")


class MiniBatchKMeans(BaseBackend):
    """scikit-learn ``MiniBatchKMeans(batch_size=1024, n_init=1, random_state=seed)``.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``threads`` caps its OpenMP and BLAS threads.
    batch_size : rows per step (an integer >= 1).
    max_iter : passes over the data at most (an integer >= 1).
    max_no_improvement : steps without a better smoothed inertia before it stops (an integer
        >= 1).
    tol : stop when the centres' smoothed squared shift falls below this (>= 0; 0, the
        default, leaves it to ``max_no_improvement``).
    reassignment_ratio : how readily a centre with few rows is moved to a random row (>= 0).
    n_init : starts drawn; the best by inertia on the start's sample is kept (an integer >= 1).
    init : ``"k-means++"`` or ``"random"`` (seeded by ``seed``, drawn from ``3 x batch_size``
        rows) or starting centres, an array ``[k, d]`` (then ``n_init`` must be 1).

    Fitted attributes: ``cluster_centers_`` (float32), ``labels_`` (each row's nearest centre,
    one pass at the end), ``n_clusters_``, ``n_iter_`` (passes over the data, scikit-learn's),
    ``n_steps_`` (mini-batch steps) and ``model_`` (the fitted scikit-learn estimator).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions(set(INITS)), "array-like"],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        batch_size: int = 1024,
        max_iter: int = 100,
        max_no_improvement: int = 10,
        tol: float = 0.0,
        reassignment_ratio: float = 0.01,
        n_init: int = 1,
        init: str | np.ndarray = "k-means++",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_no_improvement = max_no_improvement
        self.tol = tol
        self.reassignment_ratio = reassignment_ratio
        self.n_init = n_init
        self.init = init

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from sklearn.cluster import MiniBatchKMeans as SklearnMiniBatchKMeans

        init = sklearn_init(self.init, self.n_clusters, self.n_init, X.shape[1])
        self.model_ = SklearnMiniBatchKMeans(
            n_clusters=self.n_clusters,
            init=init,
            n_init=self.n_init,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            max_no_improvement=self.max_no_improvement,
            tol=self.tol,
            reassignment_ratio=self.reassignment_ratio,
            random_state=self.seed,
        ).fit(X)
        self.n_steps_ = int(self.model_.n_steps_)
        return self.model_.cluster_centers_, self.model_.labels_, self.model_.n_iter_

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Per row its label, weight and norm (the labels pass is chunked), the start's sample
        of ``3 x batch_size`` rows (a copy and its distances), the centres and their sums; the
        rows are not copied (float32 C-ordered, as the base gives them).

        Measured (peak resident growth of a fit, k = 10): 2 MiB on 70,000 x 10 rows (this says
        19 MiB), 3 MiB on 70,000 x 50 (20 MiB), 26 MiB on 70,000 x 784 (37 MiB).
        """
        sample = min(n, 3 * self.batch_size)
        return n * 32 + sample * (8 * k + 8 * d) + k * d * 32 + 16 * 2**20

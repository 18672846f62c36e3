"""``gmm``: scikit-learn's GaussianMixture; its means are the centres, its objective the fit."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from mnist_bench.clustering.base import BaseBackend, as_rows
from mnist_bench.core.params import Interval, StrOptions


class GMM(BaseBackend):
    """scikit-learn ``GaussianMixture`` (full covariances, k-means init), seeded, threads pinned.

    Each row's label is its most probable component; the component means are the centres from
    which the suite computes WCSS. The objective its own restarts (``n_init``) maximise is the
    log-likelihood of the data, :meth:`score` times n; :meth:`bic` scores a choice of k (the
    grid computes it from the same log-likelihood and :meth:`n_parameters`, one pass).

    ``blas_threads`` caps the BLAS threads inside the grid's ``threads``. GaussianMixture's
    BLAS calls are products with ``d x d`` matrices and ``d x d`` Cholesky solves, too small to
    share: at d = 10, k = 10 on 70,000 rows (``n_init = 3``, 2 cores) one BLAS thread fits in
    2.6 s and two in 4.9 s, with the same accuracy. Raise it for wide features.
    """

    objective: ClassVar[str] = "log_likelihood"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        # above 0: without it a feature constant within a component (raw pixels' borders)
        # makes the covariance singular and the fit fails inside scikit-learn
        "reg_covar": [Interval(Real, 0, None, closed="neither")],
        "blas_threads": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        covariance_type: str = "full",
        n_init: int = 1,
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        blas_threads: int = 1,
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.blas_threads = blas_threads

    def _blas(self) -> threadpool_limits:
        """BLAS capped at ``blas_threads`` (and at the grid's ``threads``)."""
        return threadpool_limits(
            limits=max(1, min(self.threads, self.blas_threads)), user_api="blas"
        )

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(
            n_components=self.n_clusters,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            reg_covar=self.reg_covar,
            random_state=self.seed,
        )
        with self._blas():
            self.model_ = mixture.fit(X)
            return self.model_.means_, self.model_.predict(X), self.model_.n_iter_

    def _predict(self, X: np.ndarray) -> np.ndarray:
        with self._blas():
            return self.model_.predict(X)

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Per row, float64 responsibilities and log-probabilities (n x k, a few of each) and
        the centred rows of the E and M steps (n x d), the k-means init's copies; k
        covariances d x d (measured: 300 to 1,150 bytes a row at d, k = 10 to 50; this is
        25 to 60 % above)."""
        return n * (16 * d + 32 * k) + k * d * d * 8 * 3

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row of ``X`` under the fitted mixture."""
        check_is_fitted(self, "model_")
        with self._blas():
            return float(self.model_.score(as_rows(X)))

    def n_parameters(self) -> int:
        """The mixture's free parameters (weights, means, covariances), for its BIC."""
        check_is_fitted(self, "model_")
        return int(self.model_._n_parameters())

    def bic(self, X: Any) -> float:
        """The Bayesian information criterion of the fitted mixture on ``X`` (lower is better):
        ``-2 n score(X) + n_parameters() ln n``, as scikit-learn's ``bic``."""
        check_is_fitted(self, "model_")
        with self._blas():
            return float(self.model_.bic(as_rows(X)))

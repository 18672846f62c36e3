"""What a backend is: a scikit-learn clusterer over float32 feature rows.

:class:`BaseBackend` is the class to derive from (``ClusterMixin`` + ``BaseEstimator``, so
``clone``, ``get_params``/``set_params``, ``fit_predict`` and Pipelines work). It validates the
rows once (float32, finite, 2-D), pins the thread count and leaves :meth:`BaseBackend._fit` to a
subclass. :class:`Backend` is the typed protocol the grid relies on.

The suite computes WCSS itself from the centres: a backend's own objective is never used for it.
Each backend estimates the memory a fit takes (:meth:`BaseBackend.memory_bytes`), so the grid
can refuse, before any work, a fit that cannot fit in the memory available.

Three class flags tell the grid what kind of clustering a backend is (all false by default, as
for k-means and the mixture model):

- ``chooses_k``: the backend finds its own number of clusters (HDBSCAN). It has no
  ``n_clusters`` parameter and the grid passes none; its labels may be ``-1`` (noise: a row in
  no cluster).
- ``deterministic``: the seed does not change the result (HDBSCAN, Ward); the grid runs it on
  one seed only. The backend still takes ``seed``, and ignores it.
- ``transductive``: the backend labels only the rows it was fitted on (HDBSCAN, Ward, spectral
  clustering); the grid takes ``labels_`` after ``fit`` instead of calling ``predict``, which
  for such a backend is an approximation (each row's nearest centre).

And one true by default: ``sweeps_k``, whether the grid's k sweep (the elbow) runs it at every
k; a backend for which each k is a new, costly fit (Ward, spectral clustering: a graph and an
embedding each time) sets it false and runs at ``eval_k`` only.

After ``fit`` every backend has ``labels_`` (int64 ``[n]``, ``0 .. k-1``; ``-1`` only from a
``chooses_k`` backend), ``cluster_centers_`` (float32 ``[k, d]``, ``k`` the clusters found: for
a backend without centres of its own, the mean of each cluster's rows, noise excluded, by
:func:`cluster_means`), ``n_clusters_`` (``k``, the same as ``len(cluster_centers_)``) and
``n_iter_`` (1 for a backend that does not iterate).
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from numbers import Integral
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.metrics import pairwise_distances_argmin
from sklearn.utils.validation import check_array, check_is_fitted
from threadpoolctl import threadpool_limits

from mnist_bench.core.params import ChecksBooleans, Interval
from mnist_bench.core.vocabulary import MAX_SEED, OBJECTIVES


@runtime_checkable
class Backend(Protocol):
    """What the grid needs of a backend.

    Parameters set by the grid: ``seed``, ``threads`` and, unless the backend ``chooses_k``,
    ``n_clusters`` (a ``chooses_k`` backend has no such parameter). :meth:`fit` sets
    ``cluster_centers_`` (float32 ``[k, d]``), ``labels_`` (int64 ``[n]``: each row's cluster,
    ``-1`` for noise), ``n_clusters_`` (``k``, the clusters found) and ``n_iter_``, and returns
    ``self``. The flags are described in this module's docstring.
    """

    seed: int
    threads: int
    #: ``"wcss"`` or ``"log_likelihood"`` (see :class:`BaseBackend`)
    objective: ClassVar[str]
    #: whether it can start from given centres (see :meth:`BaseBackend.start_params`)
    accepts_init: ClassVar[bool]
    #: whether it finds its own number of clusters (no ``n_clusters``; labels may be -1)
    chooses_k: ClassVar[bool]
    #: whether the seed leaves the result unchanged (the grid runs one seed)
    deterministic: ClassVar[bool]
    #: whether it labels only the rows it was fitted on (the grid reads ``labels_``)
    transductive: ClassVar[bool]

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest centre for each row of ``X`` (of a ``transductive`` backend:
        an approximation; the grid reads its ``labels_`` instead)."""
        ...

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Working memory of ``fit`` and ``predict`` on ``n`` x ``d`` float32 rows, k clusters."""
        ...


def bic(log_likelihood: float, n_parameters: int, n: int) -> float:
    """The Bayesian information criterion ``-2 log L + p ln n`` (scikit-learn's formula, so the
    same value as ``GaussianMixture.bic`` bit for bit), from the log-likelihood of ``n`` rows."""
    return -2 * log_likelihood + n_parameters * math.log(n)


def objective_problem(model: Any) -> str | None:
    """What is wrong with the objective ``model`` declares (``None`` when nothing is): an
    unknown name, or a mixture model without the methods its objective needs."""
    if model.objective not in OBJECTIVES:
        return f"names objective {model.objective!r}; known: {', '.join(OBJECTIVES)}"
    needed = ("score", "n_parameters") if model.objective == "log_likelihood" else ()
    if not all(callable(getattr(model, method, None)) for method in needed):
        return (
            "names objective 'log_likelihood' but does not define score(X) and n_parameters() "
            "(see clustering/base.py)"
        )
    return None


def as_rows(X: Any) -> np.ndarray:
    """``X`` as a finite 2-D float32 array (no copy when it already is one, memory maps too)."""
    return check_array(X, dtype=np.float32, ensure_all_finite=True, order="C")


def as_centres(init: Any, n_clusters: int, n_features: int) -> np.ndarray:
    """Given starting centres as a C-ordered float32 ``[n_clusters, n_features]`` array.

    A ValueError names the shape expected when they do not fit.
    """
    centres = np.ascontiguousarray(init, dtype=np.float32)
    if centres.shape != (n_clusters, n_features) or not np.isfinite(centres).all():
        raise ValueError(
            f"init must be finite centres of shape (n_clusters, n_features) = "
            f"{(n_clusters, n_features)}, got shape {centres.shape}"
        )
    return centres


def sklearn_init(init: Any, n_clusters: int, n_init: int, n_features: int) -> Any:
    """``init`` as scikit-learn's k-means estimators take it: a method's name as it is, or given
    centres checked by :func:`as_centres` (with them, ``n_init`` must be 1: one start)."""
    if isinstance(init, str):
        return init
    if n_init != 1:
        raise ValueError("n_init must be 1 when init is an array of centres")
    return as_centres(init, n_clusters, n_features)


#: The label of a row in no cluster (from a backend that ``chooses_k``: HDBSCAN's noise).
NOISE = -1


def cluster_means(X: np.ndarray, labels: Any, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The centres of a clustering that has none of its own: ``(centres, labels)``.

    ``centres`` (float32 ``[k, d]``) is the mean of each cluster's rows, summed in float64,
    rows labelled :data:`NOISE` (any negative label) left out. ``labels`` comes back as int64
    numbered ``0 .. k-1`` in the order of the labels given (unchanged when they already are;
    a label no row has is dropped, so no centre is empty), noise as :data:`NOISE`. The sums
    are made ``chunk`` rows at a time (one float64 copy of a chunk at most).
    """
    labels = np.asarray(labels, dtype=np.int64)
    clustered = labels >= 0
    present = np.unique(labels[clustered])
    k = len(present)
    if k and present[-1] != k - 1:  # renumber 0 .. k-1
        renumbered = np.full(len(labels), NOISE, dtype=np.int64)
        renumbered[clustered] = np.searchsorted(present, labels[clustered])
        labels, clustered = renumbered, renumbered >= 0
    elif not clustered.all():
        labels = np.where(clustered, labels, NOISE)
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    for start in range(0, len(X) if k else 0, chunk):
        block = labels[start : start + chunk]
        rows = np.flatnonzero(block >= 0)
        members = sparse.csr_matrix(
            (np.ones(len(rows)), (block[rows], rows)), shape=(k, len(block))
        )
        sums += members @ np.asarray(X[start : start + chunk], dtype=np.float64)
    counts = np.bincount(labels[clustered], minlength=k)
    centres = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return centres, labels


class BaseBackend(ChecksBooleans, ClusterMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the built-in backends (an outside plug-in may derive from it too).

    A subclass lists every parameter in its keyword-only ``__init__`` (``n_clusters``, ``seed``
    and ``threads`` included) and stores them unchanged, as scikit-learn requires, and declares
    what each may be in ``_parameter_constraints`` (extending this class's, which covers the
    three set by the grid). :meth:`fit` checks them first and raises
    ``sklearn.utils._param_validation.InvalidParameterError`` (a ``ValueError``) naming the
    parameter, its value and what is allowed.
    """

    n_clusters: int
    seed: int
    threads: int
    #: what the backend's restarts minimise or maximise, by which the grid picks a seed without
    #: labels: ``"wcss"`` (computed by the suite from the centres; k-means) or
    #: ``"log_likelihood"`` (a mixture model, which then also defines ``score(X)``, the mean
    #: log-likelihood per row, and ``n_parameters()``, its free parameters: the grid computes
    #: its Bayesian information criterion from the two, see :func:`bic`)
    objective: ClassVar[str] = "wcss"
    #: whether ``fit`` can start from given centres: ``init`` takes an array ``[k, d]`` and
    #: :meth:`start_params` says how to run a fixed number of Lloyd iterations from it (the
    #: grid's shared starts run only such backends)
    accepts_init: ClassVar[bool] = False
    #: whether it finds its own number of clusters: then it has no ``n_clusters`` parameter
    #: (the grid passes none) and its subclass's constraints leave that key out
    chooses_k: ClassVar[bool] = False
    #: whether the seed leaves the result unchanged (``seed`` is then taken and ignored)
    deterministic: ClassVar[bool] = False
    #: whether it labels only the rows it was fitted on: ``labels_`` is the result, and
    #: :meth:`predict` gives the nearest centre, an approximation of what a fit would say
    transductive: ClassVar[bool] = False
    #: whether the grid's k sweep runs it at every k (false: at eval_k only)
    sweeps_k: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, MAX_SEED, closed="both")],
        "threads": [Interval(Integral, 1, None, closed="left")],
    }

    @classmethod
    def start_params(cls, init: np.ndarray, iterations: int) -> dict[str, Any]:
        """The parameters that start a fit from the centres ``init`` (``[k, d]``) and run exactly
        ``iterations`` Lloyd iterations (fewer only at a fixed point), with no tolerance and no
        restarts. Defined by the backends whose ``accepts_init`` is true.
        """
        raise TypeError(f"{cls.__name__} cannot start from given centres (accepts_init is false)")

    def fit(self, X: Any, y: Any = None) -> BaseBackend:
        """Cluster the rows of ``X``; sets ``cluster_centers_``, ``labels_``, ``n_clusters_``
        and ``n_iter_``."""
        self._validate_params()
        rows = as_rows(X)
        if not self.chooses_k and len(rows) < self.n_clusters:
            raise ValueError(f"n_samples={len(rows)} should be >= n_clusters={self.n_clusters}.")
        self.n_features_in_ = rows.shape[1]
        with threadpool_limits(limits=max(1, self.threads)):
            centers, labels, n_iter = self._fit(rows)
        self.cluster_centers_ = np.ascontiguousarray(centers, dtype=np.float32)
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.n_clusters_ = len(self.cluster_centers_)
        self.n_iter_ = int(n_iter)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre of each row of ``X`` (int64; :data:`NOISE` for every
        row when the fit found no cluster). Of a ``transductive`` backend, an approximation:
        its result is ``labels_``."""
        check_is_fitted(self, "cluster_centers_")
        rows = as_rows(X)
        if rows.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {rows.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        if not len(self.cluster_centers_):
            return np.full(len(rows), NOISE, dtype=np.int64)
        with threadpool_limits(limits=max(1, self.threads)):
            return self._predict(rows).astype(np.int64)

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Estimated peak working memory (bytes) of ``fit`` and ``predict`` on ``n`` float32
        rows of ``d`` features with ``k`` clusters, beyond the rows themselves.

        The grid adds the rows and its own scoring and refuses, before any work, a grid whose
        largest fit would not fit in the memory available. This default: a float32 copy of
        the rows (many libraries copy or centre them), the labels of ``fit`` and ``predict``
        and each row's distances to the centres. A backend whose library needs more (or
        less) says so; an estimate on the generous side is the useful one.
        """
        return n * d * 4 + n * (16 + 4 * k) + k * d * 8

    @abstractmethod
    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Cluster validated float32 rows; return ``(centres [k, d], labels [n], n_iter)``
        (a backend without centres returns :func:`cluster_means` of its labels)."""

    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest centre by Euclidean distance (override to use the library's own search)."""
        return pairwise_distances_argmin(X, self.cluster_centers_)

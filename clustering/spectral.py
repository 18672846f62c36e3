"""``spectral``: spectral clustering on a k-nearest-neighbour affinity graph.

scikit-learn's ``SpectralClustering(affinity="nearest_neighbors")``: the graph joins each row
to its ``n_neighbors`` nearest rows (made symmetric), the rows are embedded by the graph
Laplacian's ``n_clusters`` smallest eigenvectors, and the embedding is cut into clusters. The
graph is sparse (about ``2 x n_neighbors`` entries a row), so 70,000 rows take a few hundred
megabytes; the eigenvectors come from LOBPCG preconditioned by algebraic multigrid (``"amg"``,
the ``pyamg`` package), which is what makes them fast: on the cached 70,000 x 10 N2D
embedding (2 shared cores) the whole fit took 5 s of CPU with ``"amg"`` and 32 s with plain
``"lobpcg"``, the same clusters to 0.002 of ACC.

A k-nearest-neighbour graph of well separated features falls into a few components (8 to 10 on
the 10-d embeddings of MNIST); each component then has its own zero eigenvalue, scikit-learn
warns that the graph is not fully connected, and the clustering is still computed. That note
and LOBPCG's about its tolerance (:data:`KNOWN_WARNINGS`) are expected here and not shown.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from mnist_bench.clustering.base import BaseBackend, cluster_means
from mnist_bench.core.params import Interval, StrOptions

#: scikit-learn's and scipy's notes that every fit on a k-nearest-neighbour graph of separated
#: features gives (regular expressions of their messages)
KNOWN_WARNINGS = (r"Graph is not fully connected", r"Exited at iteration", r"Exited postprocessing")


class Spectral(BaseBackend):
    """Spectral clustering (scikit-learn) on a k-nearest-neighbour graph, AMG eigensolver.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``seed`` draws the eigensolver's starting
        vectors (and k-means' starts with ``assign_labels = "kmeans"``); ``threads`` also runs
        the neighbour search.
    n_neighbors : the neighbours of each row in the affinity graph (an integer >= 1; at most
        the other rows). 10 by default, scikit-learn's (about ln 70,000 = 11, the order the
        theory asks for a connected graph).
    eigen_solver : ``"amg"`` (LOBPCG with an algebraic multigrid preconditioner: fast),
        ``"lobpcg"`` or ``"arpack"`` (slower: minutes at 70,000 rows). On at most
        ``5 x (n_clusters + 1)`` rows ``"amg"`` gives way to ``"lobpcg"``, which scikit-learn
        then solves densely (LOBPCG needs more rows than vectors).
    assign_labels : how the embedding becomes clusters: ``"cluster_qr"`` (one pivoted QR, no
        restarts: deterministic given the embedding, and fast), ``"kmeans"`` or
        ``"discretize"``.

    Fitted attributes: ``labels_``, ``cluster_centers_`` (the mean of each cluster's rows),
    ``n_clusters_`` (``n_clusters``, fewer in the rare case that an assignment leaves a
    cluster empty), ``n_iter_`` (1) and ``model_`` (the fitted ``SpectralClustering``).

    It is transductive: ``predict`` assigns rows to the nearest cluster mean, an
    approximation (the clusters follow the graph, not the nearest mean); the grid reads
    ``labels_``.
    """

    transductive: ClassVar[bool] = True
    sweeps_k: ClassVar[bool] = False  # a new embedding for every k
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "eigen_solver": [StrOptions({"amg", "lobpcg", "arpack"})],
        "assign_labels": [StrOptions({"cluster_qr", "kmeans", "discretize"})],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        n_neighbors: int = 10,
        eigen_solver: str = "amg",
        assign_labels: str = "cluster_qr",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.n_neighbors = n_neighbors
        self.eigen_solver = eigen_solver
        self.assign_labels = assign_labels

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from sklearn.cluster import SpectralClustering

        if self.n_clusters == 1 or len(X) == 1:  # one cluster: nothing to embed
            return (*cluster_means(X, np.zeros(len(X), dtype=np.int64)), 1)
        solver = self.eigen_solver
        if solver == "amg" and len(X) <= 5 * (self.n_clusters + 1):
            # AMG's LOBPCG needs more rows than vectors; scikit-learn's "lobpcg" solves so
            # few rows densely
            solver = "lobpcg"
        with warnings.catch_warnings():  # the known notes of this method (module docstring)
            for note in KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=note)
            self.model_ = SpectralClustering(
                n_clusters=self.n_clusters,
                affinity="nearest_neighbors",
                n_neighbors=min(self.n_neighbors, len(X) - 1),
                eigen_solver=solver,
                assign_labels=self.assign_labels,
                random_state=self.seed,
                n_jobs=max(1, self.threads),
            ).fit(X)
        centres, labels = cluster_means(X, self.model_.labels_)
        return centres, labels, 1

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """LOBPCG's float64 blocks of ``k + 1`` vectors (about 16 of them), the neighbour
        search's float64 copy of the rows, the graph and its Laplacian (several copies, about
        60 bytes a row per neighbour) and the multigrid hierarchy.

        Measured (peak resident growth of a fit, ``n_neighbors`` 10): 131-144 MiB on 70,000 x
        10 rows at k = 10 (this says 193 MiB), 413 MiB at k = 40 (449 MiB), 205 MiB on 70,000 x
        50 (219 MiB), 177 MiB on 20,000 x 784 (226 MiB), 599 MiB on 70,000 x 784 (709 MiB;
        285 s on 2 shared cores, most of it the neighbour search over the pixels).
        """
        return n * (128 * (k + 1) + 10 * d + 60 * self.n_neighbors + 300) + 32 * 2**20

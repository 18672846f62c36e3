"""``ward``: Ward's agglomerative clustering on a k-nearest-neighbour connectivity graph.

Ward's linkage merges, step by step, the two clusters whose merge raises the within-cluster
sum of squares least; cut where ``n_clusters`` remain, it is the dendrogram as a backend.
Unrestricted, it needs every pair's distance (70,000 rows: 20 GB); scikit-learn's
``AgglomerativeClustering`` can instead merge only clusters joined in a connectivity graph, here
each row's ``n_neighbors`` nearest rows (``kneighbors_graph``, the row itself left out, made
symmetric by scikit-learn), which fits 70,000 rows in a quarter of a gigabyte at 10 features
and about a gigabyte at 784.

A k-nearest-neighbour graph of well separated features falls into several components (the
cached 10-d embeddings of MNIST: 8 to 10), which Ward's merges could never join. scikit-learn
then joins every pair of components by an edge between their two closest rows, found through a
dense block of distances between the two; this backend adds the same edges before the fit,
found by a nearest-neighbour search, so scikit-learn receives a connected graph. Measured on
the cached 70,000 x 10 UMAP embedding (8 components, 2 shared cores): 42 s of CPU and 1,953 MiB
of peak memory growth with scikit-learn's joining, 15 s and 254 MiB with this one, and the
same labels, row for row.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from mnist_bench.clustering.base import BaseBackend, cluster_means
from mnist_bench.core.params import Interval


class Ward(BaseBackend):
    """Ward's agglomerative clustering (scikit-learn) on a k-nearest-neighbour graph.

    Parameters
    ----------
    n_clusters, threads : set by the grid; ``threads`` also runs the neighbour search.
    seed : set by the grid and unused: the fit is deterministic (``deterministic`` is true).
    n_neighbors : the neighbours of each row in the connectivity graph (an integer >= 1; at
        most the other rows). 10 by default, as scikit-learn's examples of structured Ward.

    Fitted attributes: ``labels_``, ``cluster_centers_`` (the mean of each cluster's rows),
    ``n_clusters_``, ``n_iter_`` (1), ``n_components_`` (the graph's connected components
    before they were joined) and ``model_`` (the fitted ``AgglomerativeClustering``, whose
    ``children_`` is the dendrogram).

    It is transductive: ``predict`` assigns rows to the nearest cluster mean, an
    approximation (Ward's clusters follow the graph, not the nearest mean); the grid reads
    ``labels_``.
    """

    deterministic: ClassVar[bool] = True
    transductive: ClassVar[bool] = True
    sweeps_k: ClassVar[bool] = False  # a new graph and tree for every k (about 20 s at 70,000)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, *, n_clusters: int = 10, seed: int = 0, threads: int = 1, n_neighbors: int = 10
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.n_neighbors = n_neighbors

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from sklearn.cluster import AgglomerativeClustering

        if len(X) == 1:  # no graph to build: one row, one cluster
            self.n_components_ = 1
            return X.copy(), np.zeros(1, dtype=np.int64), 1
        graph = knn_graph(X, self.n_neighbors, self.threads)
        graph, self.n_components_ = connected(X, graph)
        self.model_ = AgglomerativeClustering(
            n_clusters=self.n_clusters, linkage="ward", connectivity=graph
        ).fit(X)
        centres, labels = cluster_means(X, self.model_.labels_)
        return centres, labels, 1

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Ward's float64 sums of each node's rows (``2n x d x 8``: the rows and the merges'
        nodes) and the graph, which scikit-learn holds as a map of neighbours per node and a
        heap of candidate merges (about 350-420 bytes a row per neighbour); ``k`` does not
        matter (the whole tree is built).

        Measured (peak resident growth of a fit, ``n_neighbors`` 10): 254 MiB on 70,000 x 10
        rows at k = 10 and 40 (this says 358 MiB), 346 MiB on 70,000 x 50 (406 MiB), 323 MiB
        on 20,000 x 784 (391 MiB), 1,139 MiB on 70,000 x 784 (1,288 MiB; 288 s on 2 shared
        cores). Without the joined graph, scikit-learn's own joining of the 8
        components of the UMAP embedding's graph took 2.2 GB.
        """
        return n * (18 * d + 450 * self.n_neighbors + 200) + 32 * 2**20


def knn_graph(X: np.ndarray, n_neighbors: int, threads: int) -> sparse.csr_matrix:
    """Each row's ``n_neighbors`` nearest other rows (at most ``len(X) - 1``), as a 0/1 graph."""
    from sklearn.neighbors import kneighbors_graph

    return kneighbors_graph(
        X, min(n_neighbors, len(X) - 1), include_self=False, n_jobs=max(1, threads)
    )


def connected(X: np.ndarray, graph: sparse.spmatrix) -> tuple[sparse.csr_matrix, int]:
    """``graph`` made connected as scikit-learn's ``_fix_connectivity`` makes it: an edge
    between the two closest rows of every pair of its components. Returns the graph and how
    many components it had."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    n_components, component = connected_components(graph, directed=False)
    if n_components == 1:
        return sparse.csr_matrix(graph), 1
    members = [np.flatnonzero(component == c) for c in range(n_components)]
    searches = [NearestNeighbors(n_neighbors=1).fit(X[rows]) for rows in members]
    rows, cols = [], []
    for i in range(n_components):
        for j in range(i):  # the closest row of component j to each row of i, then the closest
            distance, nearest = searches[j].kneighbors(X[members[i]])
            at = int(np.argmin(distance[:, 0]))
            rows.append(members[i][at])
            cols.append(members[j][nearest[at, 0]])
    bridges = sparse.csr_matrix(
        (np.ones(2 * len(rows)), (rows + cols, cols + rows)), shape=graph.shape
    )
    return sparse.csr_matrix(graph + bridges), n_components

"""``hdbscan``: HDBSCAN, density-based clustering that finds its own number of clusters.

It builds the minimum spanning tree of the rows' mutual reachability distances (each row's
*core distance* is the distance to its ``min_samples``-th nearest row, itself counted), keeps
the clusters of at least ``min_cluster_size`` rows that persist longest in that hierarchy
(``"eom"``) or its leaves (``"leaf"``), and leaves the rows in none of them as noise (label -1).

The fit is the ``hdbscan`` package's (McInnes, Healy, Astels) with an exact minimum spanning
tree (Borůvka on a KD-tree at up to 60 features, Prim's above), which gives the same clusters
as scikit-learn's ``sklearn.cluster.HDBSCAN`` at the same parameters (its ``min_samples`` counts
the row itself: this backend passes ``min_samples - 1`` to the package, whose count does not).
Measured on the cached 70,000 x 10 N2D and UMAP embeddings (``min_samples`` 50, 2 shared
cores): at ``min_cluster_size`` 2,000 (``"eom"``) the same labels as scikit-learn's (ARI 1
between the two, the same noise), at 1,000 with ``"leaf"`` ARI 0.99994-0.99999 between the two
(ties in the tree: one row of 70,000 noise in one and not the other); 2.9-3.3 s of CPU a fit
against scikit-learn's 28-29 s (Prim's algorithm over all pairs there, quadratic in the rows).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from mnist_bench.clustering.base import BaseBackend, cluster_means
from mnist_bench.core.params import Interval, StrOptions

#: Above this many features the fit's tree search gives way to a quadratic one ...
WIDE = 60
#: ... which the checks allow on at most this many rows.
WIDE_ROWS = 20_000


class HDBSCAN(BaseBackend):
    """HDBSCAN (the ``hdbscan`` package, exact tree): finds its number of clusters, leaves noise.

    Parameters
    ----------
    min_cluster_size : the fewest rows a cluster may have (an integer >= 2). 2,000 by default:
        a digit is about 7,000 of MNIST's 70,000 images, so this keeps clusters of digit size
        while a large fraction of a digit (a style of writing it) can still stand apart. It is
        a count of rows: on a subset (``--limit``) scale it with the rows, or every row of
        digits smaller than it is noise.
    min_samples : the neighbourhood of a row's core distance, the row itself counted (an
        integer >= 2, scikit-learn's convention): larger values smooth the density and leave
        more rows as noise. 50 by default.
    cluster_selection_method : ``"eom"`` (the clusters that persist longest: fewer, larger) or
        ``"leaf"`` (the leaves of the cluster tree: more, smaller, more noise).
    seed : set by the grid and unused: the fit is deterministic (``deterministic`` is true).
    threads : set by the grid; caps the BLAS and OpenMP pools. The package's only parallel
        step, the core distances, would run in ``threads`` worker processes; measured on
        70,000 x 10 rows on 2 shared cores, two workers were no faster (3.6-9.4 s a fit
        against 3.8-7.0 s in this process, the first call the slowest: the workers start and
        get a copy of the tree), so it runs in this process.

    Fitted attributes: ``labels_`` (-1 for noise), ``cluster_centers_`` (the mean of each
    cluster's rows, noise left out), ``n_clusters_`` (the clusters found), ``n_iter_`` (1),
    ``probabilities_`` (each row's strength of membership in its cluster, 0 for noise) and
    ``model_`` (the fitted ``hdbscan.HDBSCAN``: its condensed tree, for instance).

    It is transductive: ``predict`` assigns rows to the nearest cluster mean, an
    approximation that never says noise; the grid reads ``labels_``.
    """

    chooses_k: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    transductive: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "seed": BaseBackend._parameter_constraints["seed"],
        "threads": BaseBackend._parameter_constraints["threads"],
        "min_cluster_size": [Interval(Integral, 2, None, closed="left")],
        "min_samples": [Interval(Integral, 2, None, closed="left")],
        "cluster_selection_method": [StrOptions({"eom", "leaf"})],
    }

    def __init__(
        self,
        *,
        seed: int = 0,
        threads: int = 1,
        min_cluster_size: int = 2000,
        min_samples: int = 50,
        cluster_selection_method: str = "eom",
    ) -> None:
        self.seed = seed
        self.threads = threads
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        if len(X) < 2:
            raise ValueError(f"n_samples={len(X)}: HDBSCAN needs at least 2 rows")
        import hdbscan

        self.model_ = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size,
            # the package counts the neighbours without the row; at most the other rows
            min_samples=min(self.min_samples - 1, len(X) - 1),
            cluster_selection_method=self.cluster_selection_method,
            approx_min_span_tree=False,  # exact: scikit-learn's clusters
            core_dist_n_jobs=1,
        ).fit(X)
        self.probabilities_ = np.asarray(self.model_.probabilities_, dtype=np.float64)
        centres, labels = cluster_means(X, self.model_.labels_)
        return centres, labels, 1

    def check_data(self, n: int, d: int) -> None:
        """Refuse, before any work, what cannot finish: fewer rows than a cluster needs, or
        wide features on many rows (above 60 features the tree search gives way to one whose
        time grows with the square of the rows: 10,000 x 784 took 105 s of CPU here, so
        70,000 would take over an hour)."""
        if n < self.min_cluster_size:
            raise ValueError(
                f"min_cluster_size = {self.min_cluster_size} is more than the {n:,} rows: "
                "every row would be noise"
            )
        if d > WIDE and n > WIDE_ROWS:
            raise ValueError(
                f"{n:,} rows of {d} features would take hours (its tree search stops above "
                f"{WIDE} features); cluster a {WIDE}-d or narrower embedding, or at most "
                f"{WIDE_ROWS:,} rows"
            )

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Each row's ``min_samples`` nearest neighbours (float64 distances and indices), the
        package's float64 copies of the rows (in its KD-tree and Borůvka's; one for Prim's,
        above 60 features), the spanning tree and the condensed tree; ``k`` does not matter.

        Measured (peak resident growth of a fit, ``min_samples`` 50): 100 MiB on 70,000 x 10
        rows (this says 145 MiB), 44 MiB on 20,000 x 50 (80 MiB), 76 MiB on 10,000 x 784 (106 MiB;
        Prim's there, which is quadratic in time: 105 s of CPU for those 10,000 rows, so 70,000
        would take over an hour while fitting in under 600 MiB).
        """
        neighbours = 16 * min(self.min_samples, max(n - 1, 1))
        per_feature = 8 if d > 60 else 20
        return n * (neighbours + per_feature * d + 700) + 32 * 2**20

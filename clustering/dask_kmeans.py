"""``dask``: dask-ml's KMeans (k-means|| init, Lloyd iterations) on a dask.distributed cluster.

The backend connects to ``scheduler`` (e.g. ``"tcp://host:8786"``) when one is given, else to the
address in dask's config (``DASK_SCHEDULER_ADDRESS`` / ``scheduler-address``), else it starts a
``LocalCluster`` of ``threads`` single-threaded workers for the fit and closes it afterwards,
also when the fit fails.

The local cluster runs its workers as threads of this process by default (``processes=False``):
the rows are then handed to the workers by reference, so a memory-mapped feature file is never
copied, and the heavy kernels (BLAS distances, dask-ml's numba ``nogil`` centre sums) release the
GIL, so two threads use two cores. ``processes=True`` gives one process per worker instead, at
the price of a copy of the data in the workers. BLAS is held to one thread per worker.

The rows are sent to the workers once (``Client.scatter``, one block per chunk) rather than
embedded in the task graph: ``da.from_array`` would pickle the whole array into the graph.
Chunk boundaries depend only on the data's shape, never on the worker count, so one seed gives
one result on any cluster (dask-ml draws its k-means|| samples chunk by chunk).

Known dask-ml limits (2025.1): k-means|| always starts from row 0 (the seed drives only the
later sampling and the final scikit-learn KMeans on the candidates); its ``tol`` bounds the
squared shift of the centres (absolute, not scaled by the data's variance as in scikit-learn);
and its ``inertia_`` is a sum of *unsquared* distances whenever the loop stops at ``max_iter``,
so it is never used: the suite computes WCSS from the centres like for every backend.

``init`` may also be given centres (an array ``[k, d]``, dask-ml's ``init=array``), from which the
grid's shared starts run a fixed number of iterations (``tol = 0``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from threadpoolctl import threadpool_limits

from mnist_bench.clustering.base import BaseBackend, as_centres

#: Target size of one chunk of rows sent to a worker.
CHUNK_BYTES = 32 << 20
#: Small arrays are still cut into this many chunks, so every worker gets a share.
MIN_CHUNKS = 16


#: ``init`` values: dask-ml's k-means|| (candidates reduced by an unweighted scikit-learn
#: KMeans), or the paper's k-means|| (Bahmani et al. 2012, steps 7-8: each candidate weighted
#: by the number of points nearest to it, one more pass over the data).
INITS = ("k-means||", "k-means||-weighted")


def chunk_rows(n: int, row_bytes: int) -> int:
    """Rows per chunk for ``n`` rows of ``row_bytes`` each: about 32 MiB, at least 16 chunks."""
    by_size = max(1, CHUNK_BYTES // max(1, row_bytes))
    return max(1, min(by_size, math.ceil(n / MIN_CHUNKS)))


class DaskKMeans(BaseBackend):
    """``dask_ml.cluster.KMeans(init="k-means||", random_state=seed)`` on a distributed Client.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``threads`` sizes the local cluster
        (one worker per thread) and is ignored when a scheduler is given; ``predict`` runs
        here with ``threads`` BLAS threads.
    scheduler : address of a running scheduler; None: ``dask.config`` ``scheduler-address``,
        else a temporary LocalCluster.
    processes : local cluster only: workers as processes (True) or as threads of this process.
    max_iter, tol, oversampling_factor, init_max_iter : passed to dask-ml's KMeans
        (``max_iter`` >= 1, ``tol`` >= 0, ``oversampling_factor`` > 0, ``init_max_iter``:
        k-means|| rounds at most, >= 1, or None for dask-ml's log(cost)).
    init : ``"k-means||"`` (dask-ml's), ``"k-means||-weighted"`` (see :data:`INITS`) or the
        starting centres, an array ``[k, d]``.

    Fitted attributes: ``cluster_centers_`` (float32), ``labels_`` and ``n_iter_``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "scheduler": [str, None],
        "processes": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "oversampling_factor": [Interval(Real, 0, None, closed="neither")],
        "init_max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions(set(INITS)), "array-like"],
    }
    accepts_init: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        seed: int = 0,
        threads: int = 1,
        scheduler: str | None = None,
        processes: bool = False,
        max_iter: int = 300,
        tol: float = 1e-4,
        oversampling_factor: int = 2,
        init_max_iter: int | None = None,
        init: str | np.ndarray = "k-means||",
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.threads = threads
        self.scheduler = scheduler
        self.processes = processes
        self.max_iter = max_iter
        self.tol = tol
        self.oversampling_factor = oversampling_factor
        self.init_max_iter = init_max_iter
        self.init = init

    @classmethod
    def start_params(cls, init: np.ndarray, iterations: int) -> dict[str, Any]:
        """``init`` = the centres, ``max_iter`` = ``iterations``, ``tol`` = 0.

        dask-ml stops when the centres' shift is below ``tol``: never, with ``tol`` = 0.
        """
        return {"init": init, "max_iter": iterations, "tol": 0.0}

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """A Client on the configured scheduler, or on a LocalCluster closed on exit."""
        import dask
        from distributed import Client, LocalCluster

        address = self.scheduler or dask.config.get("scheduler-address", None)
        with _quiet("distributed"):
            if address:
                with Client(address) as client:
                    yield client
                return
            with (
                LocalCluster(
                    n_workers=max(1, self.threads),
                    threads_per_worker=1,
                    processes=self.processes,
                    # In-process workers would each count the whole process's memory (the
                    # data included) against their limit and spill: no limit for threads.
                    memory_limit="auto" if self.processes else 0,
                    # No dashboard; the scheduler's HTTP server on a free port, not 8787.
                    dashboard_address=":0",
                    scheduler_kwargs={"dashboard": False},
                    silence_logs=logging.ERROR,
                ) as cluster,
                Client(cluster) as client,
            ):
                yield client

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        from dask_ml.cluster import KMeans

        given = None
        if not isinstance(self.init, str):
            given = as_centres(self.init, self.n_clusters, X.shape[1])
        # BLAS inside each worker task gets one thread: the workers are the parallelism.
        with threadpool_limits(limits=1), self.client() as client:
            dX = scatter_rows(client, X)
            init: str | np.ndarray = "k-means||" if given is None else given
            if given is None and self.init == "k-means||-weighted":
                init = weighted_scalable_init(
                    dX, self.n_clusters, self.seed, self.oversampling_factor, self.init_max_iter
                )
            model = KMeans(
                n_clusters=self.n_clusters,
                init=init,
                oversampling_factor=self.oversampling_factor,
                max_iter=self.max_iter,
                tol=self.tol,
                init_max_iter=self.init_max_iter,
                random_state=self.seed,
            )
            model.fit(dX)
            labels = np.asarray(model.labels_.compute())
        return np.asarray(model.cluster_centers_, dtype=np.float32), labels, int(model.n_iter_)

    # ``predict``: the base's nearest centre in numpy (chunked, ``threads`` BLAS threads).

    def memory_bytes(self, n: int, d: int, k: int) -> int:
        """Local workers only (a remote cluster holds the data itself): a few chunks per
        worker in flight, the labels; worker processes also hold a copy of the rows."""
        if self.scheduler:
            return n * 24
        workers = max(1, self.threads)
        copy = n * d * 4 if self.processes else 0
        return n * 24 + workers * CHUNK_BYTES * 3 + copy


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Hold logger ``name`` at ERROR (distributed logs its start-up at INFO) for the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def scatter_rows(client: Any, X: np.ndarray) -> Any:
    """``X`` as a dask array whose row blocks live on the workers (sent once, not in the graph).

    On in-process workers the blocks are views of ``X`` (no copy, a memmap stays a memmap).
    """
    import dask.array as da

    step = chunk_rows(len(X), X.shape[1] * X.itemsize)
    blocks = [X[start : start + step] for start in range(0, len(X), step)]
    futures = client.scatter(blocks, hash=False)
    parts = [
        da.from_delayed(future, shape=block.shape, dtype=block.dtype)
        for future, block in zip(futures, blocks, strict=True)
    ]
    return da.concatenate(parts, axis=0)


def weighted_scalable_init(
    X: Any, n_clusters: int, seed: int, oversampling_factor: int, max_iter: int | None
) -> np.ndarray:
    """k-means|| with weighted reclustering (Bahmani et al. 2012, algorithm 2, steps 1-8).

    The candidate rounds are dask-ml's (``_sample_points``), but the first centre is a seeded
    random row (dask-ml always takes row 0), and the candidates are reduced to ``n_clusters``
    by a scikit-learn k-means++ KMeans weighted by how many rows are nearest to each candidate.
    """
    import dask.array as da
    from dask_ml.cluster.k_means import _sample_points, evaluate_cost
    from dask_ml.metrics.pairwise import pairwise_distances_argmin_min
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    state = da.random.RandomState(int(rng.integers(2**31 - 1)))
    idx = {int(rng.integers(len(X)))}
    centers = X[sorted(idx)].compute()
    cost = float(evaluate_cost(X, centers).compute())
    rounds = int(np.round(np.log(cost))) if cost > 0 else 0
    if max_iter is not None:
        rounds = min(rounds, max_iter)
    for _ in range(rounds):
        new = _sample_points(X, centers, oversampling_factor, state).compute()
        idx |= {int(i) for i in new}
        centers = X[sorted(idx)].compute()
    if len(centers) < n_clusters:
        rest = np.setdiff1d(np.arange(len(X)), sorted(idx))
        extra = rng.choice(rest, size=n_clusters - len(idx), replace=False)
        idx |= {int(i) for i in extra}
        centers = X[sorted(idx)].compute()
    nearest, _ = pairwise_distances_argmin_min(X, centers)
    weights = da.bincount(nearest, minlength=len(centers)).compute().astype(np.float64)
    reduce = KMeans(n_clusters, init="k-means++", n_init=1, random_state=seed)
    reduce.fit(centers, sample_weight=weights)
    return np.asarray(reduce.cluster_centers_, dtype=X.dtype)

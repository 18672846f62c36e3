"""``dask``: k-means on a dask.distributed cluster (dask-ml's k-means|| start, Lloyd by the suite).

The backend connects to ``scheduler`` (e.g. ``"tcp://host:8786"``) when one is given, else to the
address in dask's config (``DASK_SCHEDULER_ADDRESS`` / ``scheduler-address``), else it starts a
``LocalCluster`` of ``threads`` single-threaded workers for the fit and closes it afterwards,
also when the fit fails. A scheduler that does not answer within :data:`CONNECT_TIMEOUT_S` is
one line naming its address (a :class:`~mnist_bench.core.errors.UserError`).

The local cluster runs its workers as threads of this process by default (``processes=False``):
the rows are then handed to the workers by reference, so a memory-mapped feature file is never
copied, and the heavy kernels (BLAS) release the GIL, so two threads use two cores.
``processes=True`` gives one process per worker instead, at the price of a copy of the data in
the workers. BLAS is held to one thread per worker.

The rows are sent to the workers once (``Client.scatter``, one block per chunk) rather than
embedded in the task graph: ``da.from_array`` would pickle the whole array into the graph.
Chunk boundaries depend only on the data's shape, never on the worker count, and the block
results are added in block order, so one seed gives one result on any cluster.

The start is dask-ml's k-means|| (``dask_ml.cluster.k_means.k_init``, the same centres its
``KMeans`` starts from), or given centres. The Lloyd iterations are the suite's
(``lloyd = "suite"``, :func:`lloyd`): one task per block and iteration returns the block's
per-centre sums and counts, computed in float32 with two matrix products, and the sums are
added in float64. dask-ml's own loop (``lloyd = "dask-ml"``) runs four graph layers per
iteration and turns the data to float64 in every one (its centres are float64, so scikit-learn's
``pairwise_distances_argmin_min`` upcasts each block): 0.61 s per iteration against 0.17 s
on 70,000 raw images of the scale set, 2 workers (docs/measurements.md). Both stop like
scikit-learn's: when the centres' squared shift is at most ``tol`` times the data's mean
feature variance (dask-ml's own ``tol`` is absolute: the backend scales it for either loop);
the suite's loop also stops, as scikit-learn's does, when no row changed its centre.

The k-means|| defaults are the paper's (Bahmani et al. 2012: l = 2k candidates a round for 5
rounds), not dask-ml's (2 a round for log(cost) rounds: 16 and 17 passes over the data on
the scale set at 70k and 250k images, 21 s of a 76 s fit at 250k). Known dask-ml limits
(2025.1): k-means|| always starts from row 0 (the seed drives only the later sampling and the
final scikit-learn KMeans on the candidates); ``init = "k-means||-weighted"`` is the paper's
variant, candidates weighted by the rows nearest to them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_bench.clustering.base import BaseBackend, as_centres
from mnist_bench.core.errors import UserError
from mnist_bench.core.params import Interval, StrOptions

#: Target size of one chunk of rows sent to a worker.
CHUNK_BYTES = 32 << 20
#: Seconds to wait for a given scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 10
#: Small arrays are still cut into this many chunks, so every worker gets a share.
MIN_CHUNKS = 16


#: ``init`` values: dask-ml's k-means|| (candidates reduced by an unweighted scikit-learn
#: KMeans), or the paper's k-means|| (Bahmani et al. 2012, steps 7-8: each candidate weighted
#: by the number of points nearest to it, one more pass over the data).
INITS = ("k-means||", "k-means||-weighted")
#: ``lloyd`` values: whose Lloyd iterations run on the cluster.
LLOYDS = ("suite", "dask-ml")


def chunk_rows(n: int, row_bytes: int) -> int:
    """Rows per chunk for ``n`` rows of ``row_bytes`` each: about 32 MiB, at least 16 chunks."""
    by_size = max(1, CHUNK_BYTES // max(1, row_bytes))
    return max(1, min(by_size, math.ceil(n / MIN_CHUNKS)))


class DaskKMeans(BaseBackend):
    """k-means on a distributed Client: dask-ml's k-means|| start, then Lloyd iterations.

    Parameters
    ----------
    n_clusters, seed, threads : set by the grid; ``threads`` sizes the local cluster
        (one worker per thread) and is ignored when a scheduler is given; ``predict`` runs
        here with ``threads`` BLAS threads.
    scheduler : address of a running scheduler; None: ``dask.config`` ``scheduler-address``,
        else a temporary LocalCluster.
    processes : local cluster only: workers as processes (True) or as threads of this process.
    max_iter : Lloyd iterations at most (>= 1).
    tol : the centres' squared shift that ends the iterations, relative to the data's mean
        feature variance, as in scikit-learn (>= 0; 0 runs ``max_iter`` iterations unless a
        fixed point comes first).
    oversampling_factor, init_max_iter : dask-ml's k-means|| (``oversampling_factor`` > 0:
        candidates drawn per round, None: ``2 * n_clusters``; ``init_max_iter``: rounds at
        most, >= 1, or None for dask-ml's log(cost)).
    init : ``"k-means||"`` (dask-ml's), ``"k-means||-weighted"`` (see :data:`INITS`) or the
        starting centres, an array ``[k, d]``.
    lloyd : ``"suite"`` (:func:`lloyd`, float32 blocks) or ``"dask-ml"`` (dask-ml's KMeans
        from the same start, for comparison).

    Fitted attributes: ``cluster_centers_`` (float32), ``labels_`` and ``n_iter_``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseBackend._parameter_constraints,
        "scheduler": [str, None],
        "processes": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "oversampling_factor": [Interval(Real, 0, None, closed="neither"), None],
        "init_max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions(set(INITS)), "array-like"],
        "lloyd": [StrOptions(set(LLOYDS))],
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
        oversampling_factor: float | None = None,
        init_max_iter: int | None = 5,
        init: str | np.ndarray = "k-means||",
        lloyd: str = "suite",
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
        self.lloyd = lloyd

    @classmethod
    def start_params(cls, init: np.ndarray, iterations: int) -> dict[str, Any]:
        """``init`` = the centres, ``max_iter`` = ``iterations``, ``tol`` = 0.

        The iterations stop when the centres' shift is at most ``tol``: with ``tol`` = 0,
        only at a fixed point.
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
                with _connected(Client, address) as client:
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
        from dask_ml.cluster.k_means import k_init

        given = None
        if not isinstance(self.init, str):
            given = as_centres(self.init, self.n_clusters, X.shape[1])
        # BLAS inside each worker task gets one thread: the workers are the parallelism.
        with threadpool_limits(limits=1), self.client() as client:
            dX, blocks = scatter_rows(client, X)
            if given is not None:
                start = given
            elif self.init == "k-means||-weighted":
                start = weighted_scalable_init(
                    dX, self.n_clusters, self.seed, self._oversampling(), self.init_max_iter
                )
            else:  # the centres dask-ml's KMeans(init="k-means||") would start from
                start = k_init(
                    dX,
                    self.n_clusters,
                    init="k-means||",
                    random_state=self.seed,
                    max_iter=self.init_max_iter,
                    oversampling_factor=self._oversampling(),
                )
            start = np.asarray(start, dtype=np.float32)
            tol = self.tol * mean_variance(client, blocks) if self.tol > 0 else 0.0
            if self.lloyd == "suite":
                return lloyd(client, blocks, start, self.max_iter, tol)
            from dask_ml.cluster import KMeans

            model = KMeans(
                n_clusters=self.n_clusters, init=start, max_iter=self.max_iter, tol=tol
            ).fit(dX)
            labels = np.asarray(model.labels_.compute())
        return np.asarray(model.cluster_centers_, dtype=np.float32), labels, int(model.n_iter_)

    def _oversampling(self) -> float:
        return 2 * self.n_clusters if self.oversampling_factor is None else self.oversampling_factor

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
def _connected(client_class: Any, address: str) -> Iterator[Any]:
    """A Client of the scheduler at ``address``; one that does not answer within
    :data:`CONNECT_TIMEOUT_S` (or refuses) is a :class:`UserError` naming it."""
    try:
        client = client_class(address, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:  # distributed's "Timed out trying to connect", a refused connection
        raise UserError(
            f"backend 'dask': no dask scheduler answers at {address} (waited "
            f"{CONNECT_TIMEOUT_S} s: {exc}); start one there or give another --scheduler"
        ) from None
    with client:
        yield client


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


def scatter_rows(client: Any, X: np.ndarray) -> tuple[Any, list[Any]]:
    """``X`` as a dask array whose row blocks live on the workers (sent once, not in the graph),
    and the futures of those blocks, in row order.

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
    return da.concatenate(parts, axis=0), futures


def mean_variance(client: Any, blocks: list[Any]) -> float:
    """The mean over features of the rows' variance (scikit-learn's scale of ``tol``): one pass,
    float64 sums per block, added in block order."""
    parts = client.gather(client.map(_moments, blocks, pure=False))
    n = sum(p[0] for p in parts)
    total = np.sum([p[1] for p in parts], axis=0)
    squares = np.sum([p[2] for p in parts], axis=0)
    mean = total / n
    return float(np.mean(np.maximum(squares / n - mean * mean, 0.0)))


def lloyd(
    client: Any, blocks: list[Any], centres: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Lloyd iterations from ``centres`` over the row blocks on the workers.

    Each iteration maps :func:`_block_step` over the blocks (one task each) and adds their
    per-centre sums in block order; a centre that gets no row keeps its place. Stops like
    scikit-learn's ``lloyd``: after ``max_iter`` iterations, when no row changed its nearest
    centre (a fixed point; each block sends a digest of its rows' centres, not the labels), or
    once the centres' squared shift is at most ``tol`` (absolute). Returns ``(centres, labels,
    n_iter)``, the labels being each row's nearest final centre.
    """
    centres = np.ascontiguousarray(centres, dtype=np.float32)
    n_iter = 0
    previous: list[bytes] | None = None
    while n_iter < max_iter:
        n_iter += 1
        parts = client.gather(client.map(_block_step, blocks, centres=centres, pure=False))
        sums = np.sum([p[0] for p in parts], axis=0)
        counts = np.sum([p[1] for p in parts], axis=0)
        digests = [p[2] for p in parts]
        moved = np.where(
            counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres
        ).astype(np.float32)
        shift = float(np.sum((moved.astype(np.float64) - centres) ** 2))
        centres = moved
        if digests == previous or shift <= tol:
            break
        previous = digests
    labels = client.gather(client.map(_block_labels, blocks, centres=centres, pure=False))
    return centres, np.concatenate(labels).astype(np.int64), n_iter


#: Rows of a block handled at a time by :func:`_block_step` (its rows stay in the CPU cache
#: between the two products; measured on 250k x 784, one thread: 12% faster than whole blocks)
SUB_ROWS = 1024


def _nearest(rows: np.ndarray, centres: np.ndarray, half_norms: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of each row: argmax of x.c - |c|^2 / 2 (one float32 product)."""
    scores = rows @ centres.T
    scores -= half_norms
    return np.argmax(scores, axis=1)


def _half_norms(centres: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * np.einsum("ij,ij->i", centres, centres)


def _block_step(block: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes]:
    """One block's part of a Lloyd step: per-centre float64 sums of its rows, counts, and a
    digest of which centre each row is nearest to (equal digests: no row moved).

    :data:`SUB_ROWS` rows at a time: their nearest centres (one product), then their sums per
    centre (a product with the 0/1 membership matrix) while they are still in the cache.
    """
    k = len(centres)
    half = _half_norms(centres)
    sums = np.zeros((k, block.shape[1]), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    digest = hashlib.blake2b(digest_size=16)
    members = np.zeros((k, min(SUB_ROWS, len(block))), dtype=np.float32)
    for start in range(0, len(block), SUB_ROWS):
        rows = block[start : start + SUB_ROWS]
        nearest = _nearest(rows, centres, half)
        member = members[:, : len(rows)]
        member[...] = 0.0
        member[nearest, np.arange(len(rows))] = 1.0
        sums += member @ rows
        counts += np.bincount(nearest, minlength=k)
        digest.update(nearest.astype(np.int32).tobytes())
    return sums, counts, digest.digest()


def _block_labels(block: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return _nearest(block, centres, _half_norms(centres)).astype(np.int32)


def _moments(block: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    rows = block.astype(np.float64)
    return len(block), rows.sum(axis=0), np.einsum("ij,ij->j", rows, rows)


def weighted_scalable_init(
    X: Any, n_clusters: int, seed: int, oversampling_factor: float, max_iter: int | None
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

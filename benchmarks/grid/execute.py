"""Running one job of the plan: fit a backend at one (k, seed) on a split's features, score it,
and make its result row.

:class:`SplitData` is what every job on one split of one extractor's features shares: the rows
and labels, the seeded sample the k-selection scores use (:class:`SampleScores`) and the shared
k-means++ starts (:class:`Starts`), each computed once, when first used. :func:`run_job` builds
the job's backend (:meth:`GridConfig.backend <mnist_bench.grid.config.GridConfig.backend>`),
fits and scores it (:func:`fit_one`) and returns the row; its stages are timed on the run's
:class:`Clock` by :meth:`Clock.stage`, the library's fit and predict apart from the suite's
scoring.
"""

from __future__ import annotations

import json
import resource
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_bench.analyses.kselect.sample import SampleScores
from mnist_bench.analyses.scores import scores, wcss
from mnist_bench.analyses.shared_starts import starts as shared_starts
from mnist_bench.analyses.time.clock import LIBRARY, Clock
from mnist_bench.clustering import BACKENDS
from mnist_bench.clustering.base import NOISE, bic
from mnist_bench.core import numerics
from mnist_bench.core.errors import UserError
from mnist_bench.core.vocabulary import SHARED, cell_label
from mnist_bench.data.datasets import Dataset
from mnist_bench.grid import budget
from mnist_bench.grid.config import GridConfig, make_backend
from mnist_bench.grid.extraction import Features
from mnist_bench.grid.plan import Job

#: The stage of the suite's own work on a fitted backend.
SCORING = "WCSS, scores and objective"


@dataclass(frozen=True)
class SplitData:
    """One split of one extractor's features, as every job on it sees them."""

    dataset: Dataset
    features: Features
    split: str
    X: np.ndarray
    y: np.ndarray
    #: the split's positions in the dataset (kept with the labels files)
    index: np.ndarray
    k_scores: SampleScores
    starts: shared_starts.Starts

    @classmethod
    def of(cls, ds: Dataset, feats: Features, split: str, threads: int) -> SplitData:
        mask = ds.mask(split)
        # split `all` uses the (possibly memory-mapped) features as they are: no copy
        X = feats.X if mask.all() else np.ascontiguousarray(feats.X[mask])
        return cls(
            ds,
            feats,
            split,
            X,
            ds.labels[mask],
            np.flatnonzero(mask),
            SampleScores(X, threads),
            shared_starts.Starts(X),
        )


def run_job(job: Job, data: SplitData, cfg: GridConfig, clock: Clock) -> tuple[dict, np.ndarray]:
    """Fit and score ``job`` on ``data``: its result row (``own_s`` aside, which the runner
    times around the job and its label file) and the predicted labels."""
    params = cfg.backends[job.plugin]
    if job.start == SHARED:
        start = data.starts(job.k, job.seed)
        params = shared_starts.start_params(cfg.shared_starts, job.plugin, params, start)
    try:
        result, labels = fit_one(
            data.X, data.y, job.plugin, params, job.k, job.seed, cfg.threads_in_use, clock
        )
    except MemoryError:
        what = f"{cell_label(job.extractor, job.backend)} on {len(data.y):,} images"
        what += f" (split {job.split}, k = {job.k}, seed {job.seed})"
        raise budget.out_of_memory(what, len(data.dataset), job.plugin) from None
    recorded = (
        shared_starts.recorded_params(params)
        if job.start == SHARED
        else json.dumps(params, sort_keys=True)
    )
    row = {
        **key_columns(job, data, result["clusters"]),
        **result,
        **feature_columns(data.features),
        "eval_k": job.eval_k,
        "in_sweep": job.in_sweep,
        "chose_k": job.k is None,
        "threads": cfg.threads_in_use,
        "extractor_params": json.dumps(cfg.extractors[job.extractor], sort_keys=True),
        "backend_params": recorded,
        "peak_rss_mb": peak_rss_mb(),
        "init": job.start,
    }
    return row, labels


def key_columns(job: Job, data: SplitData, clusters: int) -> dict[str, Any]:
    """The columns that say which row this is (:data:`ROW_KEY
    <mnist_bench.core.vocabulary.ROW_KEY>` and the data's size); a backend that chose its own
    number of clusters has k = ``clusters``, the number it found."""
    return {
        "dataset": data.dataset.name,
        "split": job.split,
        "n_samples": len(data.y),
        "extractor": job.extractor,
        "feature_dim": data.X.shape[1],
        "backend": job.backend,
        "k": job.k if job.k is not None else clusters,
        "seed": job.seed,
    }


def feature_columns(feats: Features) -> dict[str, Any]:
    """The columns a row takes from its features: how they were made, and whether pinned."""
    return {
        "extract_s": feats.meta["transform_s"],
        "supervised": feats.supervised,
        "deterministic": feats.deterministic,
        "features_sha256": (feats.meta.get("sha256") or "")[:16] or None,
        "pinned": feats.deterministic and numerics.portable() and feats.unpinned is None,
        "extractor_steps": " → ".join(feats.steps) if len(feats.steps) > 1 else None,
        "extractor_fit_s": feats.meta.get("fit_s"),
        "extractor_test_acc": feats.meta.get("test_acc"),
    }


def fit_one(
    X: np.ndarray,
    y: np.ndarray,
    backend: str,
    params: dict[str, Any],
    k: int,
    seed: int,
    threads: int,
    clock: Clock | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit one backend at one (k, seed) and score it.

    Returns the metric and timing columns of a row, and the predicted labels. ``clock`` gets
    the fit and predict (the library's) and the scoring (the suite's) seconds.
    """
    clock = clock or Clock()
    model = make_backend(backend, params, k, seed, threads)
    with clock.stage(f"fit: {backend}", LIBRARY) as fit:
        try:  # plug-ins check their parameters in fit, as scikit-learn estimators do
            with BACKENDS.calls(backend):  # what an outside plug-in raises: one line naming it
                model.fit(X)
        except ValueError as exc:
            raise UserError(f"backend {backend!r}: {exc}") from None
    with clock.stage(f"predict: {backend}", LIBRARY) as predict, BACKENDS.calls(backend):
        # a transductive backend labels the rows it was fitted on, and only those
        labels = model.labels_ if getattr(model, "transductive", False) else model.predict(X)
    n_iter = checked_output(backend, model, labels, X.shape, k)
    with clock.stage(SCORING):
        row = _scored(model, X, y, labels)
    row |= {"n_iter": n_iter, "fit_s": fit.seconds, "predict_s": predict.seconds}
    row["s_per_iter"] = fit.seconds / max(1, n_iter)
    return row, labels


def checked_output(
    backend: str, model: Any, labels: Any, shape: tuple[int, ...], k: int | None
) -> int:
    """Check what a fitted backend gave against what the grid relies on (see
    ``clustering/base.py``) before any number is computed from it; its iteration count.

    ``labels``: integers of shape ``[n]``, in ``[0, k)`` (from -1, noise, for a backend whose
    ``chooses_k`` is true) and below the number of centres; ``cluster_centers_``: finite numbers
    ``[k_found, d]``; ``n_iter_``: a count. An outside plug-in that gives anything else is one
    line naming it (:class:`UserError`); one of the suite's own is a bug (RuntimeError).
    """
    problem, n_iter = _output_problem(model, labels, shape, k)
    if problem is None:
        return n_iter
    if BACKENDS.is_outside(backend):
        raise BACKENDS.failure(backend, problem)
    raise RuntimeError(f"internal error: backend {backend!r} {problem}")


def _output_problem(
    model: Any, labels: Any, shape: tuple[int, ...], k: int | None
) -> tuple[str | None, int]:
    """What is wrong with a fitted backend's labels, centres or iteration count (None when
    nothing is), and its iteration count."""
    n, d = shape
    labels = np.asarray(labels)
    if labels.shape != (n,):
        return f"returned labels of shape {labels.shape}, not ({n},): one per row", 0
    if not np.issubdtype(labels.dtype, np.integer):
        return f"returned labels of dtype {labels.dtype}, not integers", 0
    try:
        centres = np.asarray(model.cluster_centers_)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"has no array of cluster_centers_ ({type(exc).__name__}: {exc})", 0
    if centres.ndim != 2 or centres.shape[1] != d:
        return f"returned centres of shape {centres.shape}, not (clusters, {d})", 0
    if not np.issubdtype(centres.dtype, np.number) or not np.isfinite(centres).all():
        return "returned centres that are not all finite numbers (NaN or inf)", 0
    chooses_k = bool(getattr(model, "chooses_k", False))
    low = NOISE if chooses_k else 0
    high = len(centres) if chooses_k or k is None else min(k, len(centres))
    if n and (int(labels.min()) < low or int(labels.max()) >= high):
        found = f"{len(centres)} centres" + ("" if chooses_k or k is None else f", k = {k}")
        return (
            f"returned labels from {int(labels.min())} to {int(labels.max())}, outside "
            f"[{low}, {high}) ({found})",
            0,
        )
    n_iter = getattr(model, "n_iter_", None)
    if (
        isinstance(n_iter, bool)
        or not isinstance(n_iter, int | float | np.integer | np.floating)
        or not np.isfinite(n_iter)
        or n_iter < 0
    ):
        return f"returned n_iter_ = {n_iter!r}, not a count of iterations", 0
    return None, int(n_iter)


def _scored(model: Any, X: np.ndarray, y: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """WCSS, the scores against the digits, and the objective the backend's own restarts would
    choose by: WCSS, or a mixture model's log-likelihood (its mean score times n, one pass),
    from which its BIC scores k."""
    centers = np.asarray(model.cluster_centers_, dtype=np.float32)
    clustered = labels != NOISE  # WCSS is over the rows in a cluster
    within = (
        wcss(X, labels, centers)
        if clustered.all()
        else wcss(X[clustered], labels[clustered], centers)
    )
    row = {"wcss": within, **scores(y, labels), "objective": model.objective}
    if model.objective == "wcss":
        row["objective_value"] = row["wcss"]
    else:
        row["objective_value"] = float(model.score(X)) * len(X)
        row["bic"] = bic(row["objective_value"], model.n_parameters(), len(X))
    return row


def score_sweep(
    pending: list[tuple[dict[str, Any], np.ndarray]], data: SplitData, clock: Clock
) -> None:
    """Add the k-selection scores to a cell's sweep rows, in one product for all of them (see
    :meth:`SampleScores.many`; its last bits depend on the labelings in it), and each row's
    share of its seconds to the row's ``own_s``."""
    if not pending:
        return
    with clock.stage("k selection: scores") as span:
        values = data.k_scores.many([labels for _, labels in pending])
    for (row, _), more in zip(pending, values, strict=True):
        row.update(more)
        row["own_s"] += span.seconds / len(pending)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children so far, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024

"""The grid runner: dataset -> features (cached) -> backend -> labels + centres -> result rows.

One tidy row per (dataset, split, extractor, backend, k, seed). The k sweep runs on the first
seed only (unless ``sweep_all_seeds``), while ``eval_k`` runs on every seed. The rows of the
sweep also get the scores that choose k without labels (silhouette, Calinski-Harabasz,
Davies-Bouldin on a seeded sample, :mod:`mnist_bench.clustering.kselect`; BIC for a mixture),
and the Ward linkage of a seeded sample of each extractor's features is kept for its
dendrogram. ``[shared_starts]`` adds rows where k-means backends start from the same centres
(:mod:`mnist_bench.grid.shared_starts`). Finished rows go to the resume journal
(:mod:`mnist_bench.grid.journal`) as they come, so a killed run started again with the same
config and output folder resumes where it stopped. The rows are written to ``results.csv``
(:mod:`mnist_bench.grid.results`); rendering them is the report's job.

Every stage is timed on a :class:`mnist_bench.core.clock.Clock`, the libraries' seconds apart
from the suite's own (each row's ``own_s``: its WCSS, scores and label file), and written to
``timeshare.json`` for the report's "where the time went" table.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from mnist_bench import clustering, features
from mnist_bench.clustering.base import bic, objective_problem
from mnist_bench.clustering.kselect import SampleScores, ward_linkage
from mnist_bench.clustering.metrics import scores, wcss
from mnist_bench.core import numerics
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import remove_stale_temporaries, write_npz, write_text
from mnist_bench.core.cache import Cache
from mnist_bench.core.clock import LIBRARY, Clock
from mnist_bench.core.errors import UserError
from mnist_bench.core.own_files import UNREADABLE
from mnist_bench.core.system import say
from mnist_bench.data import datasets
from mnist_bench.grid import budget, environment, shared_starts
from mnist_bench.grid.config import GridConfig
from mnist_bench.grid.extraction import extract, step_key
from mnist_bench.grid.journal import Journal
from mnist_bench.grid.results import write_results
from mnist_bench.grid.timings import benchmark_json

#: Images a cheap extractor is tried on before the grid starts.
PREFLIGHT_IMAGES = 256
#: Datasets at least this large are extracted by ``threads`` worker processes.
PARALLEL_EXTRACT_MIN = 200_000


def jobs(cfg: GridConfig) -> list[tuple[int, int, bool]]:
    """The (k, seed, in_sweep) triples of one cell: the k sweep, then eval_k on the other seeds."""
    sweep_seeds = cfg.seeds if cfg.sweep_all_seeds else cfg.seeds[:1]
    triples = [(k, seed, True) for seed in sweep_seeds for k in cfg.k]
    assert cfg.eval_k is not None
    triples += [(cfg.eval_k, seed, False) for seed in cfg.seeds if seed not in sweep_seeds]
    return triples


def splits_for(cfg: GridConfig, supervised: bool) -> list[str]:
    """The splits clustered for an extractor: the config's, plus ``test`` for supervised ones."""
    splits = list(cfg.splits)
    if supervised and cfg.holdout_split and "test" not in splits:
        splits.append("test")
    return splits


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
    model = clustering.make(backend, n_clusters=k, seed=seed, threads=threads, **params)
    problem = objective_problem(model)  # the grid checks it before any work too
    if problem:
        raise UserError(f"backend {backend!r} {problem}")
    start = time.perf_counter()
    try:  # plug-ins check their parameters in fit, as scikit-learn estimators do
        model.fit(X)
    except ValueError as exc:
        raise UserError(f"backend {backend!r}: {exc}") from None
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    labels = model.predict(X)
    predict_s = time.perf_counter() - start
    clock.add(f"fit: {backend}", fit_s, LIBRARY)
    clock.add(f"predict: {backend}", predict_s, LIBRARY)
    start = time.perf_counter()
    centers = np.asarray(model.cluster_centers_, dtype=np.float32)
    row = {
        "wcss": wcss(X, labels, centers),
        **scores(y, labels),
        "n_iter": int(model.n_iter_),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "s_per_iter": fit_s / max(1, int(model.n_iter_)),
        "objective": model.objective,
    }
    # the objective the backend's own restarts would choose by: WCSS (computed by the suite)
    # or the log-likelihood of a mixture model (its score, the mean per row, times n)
    if model.objective == "wcss":
        row["objective_value"] = row["wcss"]
    else:  # a mixture model: one pass for its log-likelihood, from which its BIC scores k
        row["objective_value"] = float(model.score(X)) * len(X)
        row["bic"] = bic(row["objective_value"], model.n_parameters(), len(X))
    clock.add("WCSS, scores and objective", time.perf_counter() - start)
    return row, labels


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children so far, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def labels_path(out_dir: Path, row: dict[str, Any]) -> Path:
    """Where the predicted labels of an eval_k row are kept (``OUT/labels/*.npz``)."""
    parts = (row["split"], row["extractor"], row["backend"], row["k"], row["seed"])
    return words.inside(out_dir, words.labels_file(*parts))


def labels_ok(path: Path, index: np.ndarray) -> bool:
    """Whether ``path`` holds the labels of the images at ``index`` (an interrupted run's)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            kept, labels = npz["index"], npz["labels"]
    except UNREADABLE:
        return False
    return (
        np.array_equal(kept, index)
        and labels.shape == index.shape
        and np.issubdtype(labels.dtype, np.integer)
    )


def save_labels(path: Path, index: np.ndarray, labels: np.ndarray) -> None:
    """Save the dataset positions and predicted cluster of every image of a cell, atomically.

    A file that already holds the same labels is left as it is, so the pictures drawn from it
    (which are redrawn when older than their labels) are not drawn again by a rerun.
    """
    index, labels = index.astype(np.int32), labels.astype(np.int16)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as old:
                if np.array_equal(old["index"], index) and np.array_equal(old["labels"], labels):
                    return
        except UNREADABLE:
            pass  # unreadable: written anew
    write_npz(path, index=index, labels=labels)


def save_linkage(out_dir: Path, split: str, extractor: str, X: np.ndarray, y: np.ndarray) -> None:
    """Keep the Ward linkage of a seeded sample of ``X``, with the sample's digits, for the
    report's dendrogram (``OUT/dendrograms/*.npz``); a file with the same content is left alone.
    """
    Z, index = ward_linkage(X)
    path = out_dir / words.linkage_file(split, extractor)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as old:
                if np.array_equal(old["linkage"], Z) and np.array_equal(old["index"], index):
                    return
        except UNREADABLE:
            pass  # unreadable: written anew
    write_npz(path, linkage=Z, index=index.astype(np.int32), labels=y[index])


@contextlib.contextmanager
def output_folder(out_dir: Path) -> Iterator[Path]:
    """Create ``out_dir``, check it is writable and hold its lock for the whole run.

    A folder this call created is removed again when the run fails before writing anything in
    it, so a refused run leaves no empty ``--out`` behind.
    """
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output folder {out_dir}: {exc.strerror}") from None
    lock = FileLock(str(out_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"another run is writing to {out_dir}; choose another --out") from None
    try:
        remove_stale_temporaries(out_dir, recursive=True)  # labels/, montages/, ... too
        yield out_dir
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            (out_dir / ".lock").unlink()
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if empty: the run wrote nothing


def check_sizes(cfg: GridConfig, ds: datasets.Dataset, any_supervised: bool) -> None:
    """Every k must leave at least one image per cluster in every split that will be clustered."""
    splits = set(cfg.splits) | ({"test"} if any_supervised and cfg.holdout_split else set())
    for split in sorted(splits):
        n = int(ds.mask(split).sum())
        if max(cfg.k) > n:
            raise UserError(
                f"k = {max(cfg.k)} is larger than the {n} images of split {split!r} "
                f"of dataset {cfg.dataset!r}"
            )


def preflight(cfg: GridConfig, ds: datasets.Dataset, cache: Cache | None = None) -> dict[str, bool]:
    """Try each cheap extractor on a few images, so a misfit fails before any long work.

    (A HOG block larger than the images, say.) Extractors that train a model, learn from labels
    or embed their whole input are only checked for their parameters (by the config), and so
    is one whose features are in ``cache`` already. Returns whether each extractor is
    supervised.
    """
    supervised = {}
    sample = ds.images[: min(len(ds), PREFLIGHT_IMAGES)]
    for name in cfg.extractors:
        first, params = cfg.steps(name)[0]
        extractor = features.make(first, **params)
        supervised[name] = bool(extractor.supervised)
        if extractor.supervised or extractor.transductive or extractor.uses_cache:
            continue
        if cache is not None and cache.has_array(step_key(ds, cfg.steps(name)[:1])):
            continue  # made with these parameters before
        try:
            extractor.fit(sample).transform(sample[:2])
        except ValueError as exc:
            raise UserError(f"extractor {name!r}: {exc}") from None
    return supervised


def load_dataset(cfg: GridConfig, cache: Cache) -> datasets.Dataset:
    """The dataset ``cfg`` clusters (generated ones are made into the cache folder)."""
    return datasets.load(cfg.dataset, cfg.limit, cache_dir=cache.root)


def prepare(
    cfg: GridConfig, cache: Cache, ds: datasets.Dataset | None = None
) -> tuple[datasets.Dataset, dict[str, bool]]:
    """Check what can be checked before the run, writing nothing: the extractors on a few
    images, every k against the split sizes, the memory the grid needs against what is left.

    Returns the dataset (loaded here unless given) and whether each extractor is supervised.
    """
    ds = ds if ds is not None else load_dataset(cfg, cache)
    supervised = preflight(cfg, ds, cache)
    check_sizes(cfg, ds, any(supervised.values()))
    splits = {name: splits_for(cfg, sup) for name, sup in supervised.items()}
    budget.check(cfg, ds, cache, splits)
    return ds, supervised


def run_grid(
    cfg: GridConfig,
    out_dir: Path,
    cache: Cache,
    clock: Clock | None = None,
    prepared: tuple[datasets.Dataset, dict[str, bool]] | None = None,
) -> pd.DataFrame:
    """Run the whole grid into ``out_dir`` and return the result rows (also in results.csv).

    Writes ``results.csv``, ``environment.json``, the stage timings as pytest-benchmark's
    ``benchmark.json``, where the time went (``timeshare.json``, from ``clock``) and the
    labels of the eval_k rows; the report is rendered from them afterwards (``mnist-bench
    run`` does it next). Call it inside :func:`output_folder`, which holds the folder's lock
    for the run and whatever follows; ``prepared`` is what :func:`prepare` returned before the
    folder was made (else it is called here).
    """
    clock = clock or Clock()
    threads = cfg.threads_in_use
    if prepared is None:
        with clock.stage("load data"):
            ds = load_dataset(cfg, cache)
        with clock.stage("checks (parameters, sizes, memory)"):
            prepared = prepare(cfg, cache, ds)
    ds, supervised = prepared
    with clock.stage("resume journal"):
        journal = Journal(out_dir, cfg.hash())
        done = journal.load()
        journal.start(list(done.values()))
    pairs = jobs(cfg)
    shared_pairs = [(cfg.eval_k, seed, False) for seed in cfg.seeds]
    total = sum(
        len(splits_for(cfg, sup))
        * (
            sum(cfg.runs(b, name) for b in cfg.backends) * len(pairs)
            + len(shared_starts.backends_for(cfg.shared_starts, name, _running(cfg, name)))
            * len(shared_pairs)
        )
        for name, sup in supervised.items()
    )
    rows: list[dict[str, Any]] = []
    unpinned: dict[str, str] = {}  # extractor -> why its features differ between CPU models
    started = time.perf_counter()
    for ext_name, ext_params in cfg.extractors.items():
        # worker processes only pay off (and fork safely, before TensorFlow) on large sets
        processes = threads if len(ds) >= PARALLEL_EXTRACT_MIN else 1
        stage = f"extract: {ext_name}"
        start = time.perf_counter()
        try:
            feats = extract(ds, cfg.steps(ext_name), cache, threads=processes, name=ext_name)
        except MemoryError:
            what = f"extractor {ext_name!r} on {len(ds):,} images"
            raise budget.out_of_memory(what, len(ds), None) from None
        clock.add(stage, feats.library_s, LIBRARY)
        clock.add(stage, time.perf_counter() - start - feats.library_s)
        if feats.cached:
            clock.notes[stage] = "read from the cache"
        # (backend column, plug-in, its parameters, init): each backend, then the shared starts
        running = _running(cfg, ext_name)
        cells = [(b, b, cfg.backends[b], "own") for b in running]
        cells += [
            (words.shared_backend(b), b, cfg.backends[b], "shared")
            for b in shared_starts.backends_for(cfg.shared_starts, ext_name, running)
        ]
        for i, split in enumerate(splits_for(cfg, feats.supervised)):
            with clock.stage(stage):
                mask = ds.mask(split)
                # split `all` uses the (possibly memory-mapped) features as they are: no copy
                X = feats.X if mask.all() else np.ascontiguousarray(feats.X[mask])
                y = ds.labels[mask]
                index = np.flatnonzero(mask)
            if i == 0:
                with clock.stage("k selection: linkage"):
                    save_linkage(out_dir, split, ext_name, X, y)
            k_scores = SampleScores(X, threads)  # the sample's distances: once, when first used
            starts = shared_starts.Starts(X)  # k-means++ centres: once per (k, seed)
            for backend, plugin, backend_params, init in cells:
                todo = pairs if init == "own" else shared_pairs
                bases = {
                    (k, seed): {
                        "dataset": ds.name,
                        "split": split,
                        "n_samples": len(y),
                        "extractor": ext_name,
                        "feature_dim": X.shape[1],
                        "backend": backend,
                        "k": k,
                        "seed": seed,
                    }
                    for k, seed, _ in todo
                }
                kept = {pair: done.get(words.row_key(base)) for pair, base in bases.items()}
                for pair, row in kept.items():
                    if row is not None and pair[0] == cfg.eval_k and init == "own":
                        path = labels_path(out_dir, row)
                        if not labels_ok(path, index):
                            say(f"warning: {path.name} is missing or damaged; recomputing its row")
                            kept[pair] = None
                # the sweep's rows are scored together (one product, whose last bits depend on
                # the labelings in it): kept whole from the journal, or all computed again
                sweep = [(k, seed) for k, seed, in_sweep in todo if in_sweep]
                if any(kept[pair] is None for pair in sweep):
                    kept.update(dict.fromkeys(sweep))
                pending: list[tuple[dict[str, Any], np.ndarray]] = []
                for k, seed, in_sweep in todo:
                    base = bases[(k, seed)]
                    row = kept[(k, seed)]
                    reused = row is not None
                    if row is None:
                        params = backend_params
                        if init == "shared":
                            params = shared_starts.start_params(
                                cfg.shared_starts, plugin, backend_params, starts(k, seed)
                            )
                        start = time.perf_counter()
                        try:
                            result, labels = fit_one(X, y, plugin, params, k, seed, threads, clock)
                        except MemoryError:
                            what = f"{words.cell_label(ext_name, backend)} on {len(y):,} images"
                            what += f" (split {split}, k = {k}, seed {seed})"
                            raise budget.out_of_memory(what, len(ds), plugin) from None
                        row = {
                            **base,
                            **result,
                            "extract_s": feats.meta["transform_s"],
                            "eval_k": k == cfg.eval_k,
                            "in_sweep": in_sweep,
                            "supervised": feats.supervised,
                            "deterministic": feats.deterministic,
                            "features_sha256": (feats.meta.get("sha256") or "")[:16] or None,
                            "pinned": feats.deterministic
                            and numerics.portable()
                            and feats.unpinned is None,
                            "extractor_steps": " → ".join(feats.steps)
                            if len(feats.steps) > 1
                            else None,
                            "extractor_fit_s": feats.meta.get("fit_s"),
                            "extractor_test_acc": feats.meta.get("test_acc"),
                            "threads": threads,
                            "extractor_params": json.dumps(ext_params, sort_keys=True),
                            "backend_params": json.dumps(backend_params, sort_keys=True)
                            if init == "own"
                            else shared_starts.recorded_params(params),
                            "peak_rss_mb": peak_rss_mb(),
                            "init": init,
                        }
                        if k == cfg.eval_k and init == "own":
                            with clock.stage("label files"):
                                save_labels(labels_path(out_dir, row), index, labels)
                        # the row's own work: all but the library's fit and predict
                        row["own_s"] = time.perf_counter() - start - row["fit_s"] - row["predict_s"]
                        if in_sweep:
                            pending.append((row, labels))
                        else:
                            with clock.stage("resume journal"):
                                journal.append(row)
                    rows.append(row)
                    _progress(len(rows), total, row, started, reused)
                _score_sweep(pending, k_scores, journal, clock)
        if feats.unpinned:
            unpinned[ext_name] = feats.unpinned
        # this extractor's features go before the next one's are made (the memory check
        # counts one extractor's features at a time)
        del feats, X
    with clock.stage("results.csv, environment.json, benchmark.json"):
        frame = pd.DataFrame(rows, columns=list(words.COLUMNS))
        write_results(frame, out_dir)
        env = environment.collect(cfg, ds, unpinned)
        write_text(out_dir / words.ENVIRONMENT, json.dumps(env, indent=2, sort_keys=True) + "\n")
        timings = benchmark_json(frame, env)
        write_text(out_dir / words.BENCHMARK, json.dumps(timings, indent=1) + "\n")
    write_timeshare(out_dir, clock)
    journal.remove()
    return frame


def _score_sweep(
    pending: list[tuple[dict[str, Any], np.ndarray]],
    k_scores: SampleScores,
    journal: Journal,
    clock: Clock,
) -> None:
    """Add the k-selection scores to a cell's sweep rows (one product for all of them: see
    :meth:`SampleScores.many`), each row's ``own_s`` its share, then journal the rows in one
    write.

    A run stopped before all of a sweep's rows are journaled computes the whole sweep again
    when resumed, so its scores come from the same product as in an uninterrupted run.
    """
    if not pending:
        return
    start = time.perf_counter()
    with clock.stage("k selection: scores"):
        scores = k_scores.many([labels for _, labels in pending])
    share = (time.perf_counter() - start) / len(pending)
    for (row, _), values in zip(pending, scores, strict=True):
        row.update(values)
        row["own_s"] += share
    with clock.stage("resume journal"):
        journal.append(*(row for row, _ in pending))


def _running(cfg: GridConfig, extractor: str) -> list[str]:
    """The backends the grid runs on ``extractor``."""
    return [b for b in cfg.backends if cfg.runs(b, extractor)]


def write_timeshare(out_dir: Path, clock: Clock, wall_s: float | None = None) -> None:
    """Write ``OUT/timeshare.json``: the stages ``clock`` measured (see :class:`Clock`)."""
    record = clock.to_dict(wall_s)
    write_text(out_dir / words.TIMESHARE, json.dumps(record, indent=1) + "\n")


def _progress(i: int, total: int, row: dict[str, Any], started: float, reused: bool) -> None:
    elapsed = time.perf_counter() - started
    what = "kept from the interrupted run" if reused else f"fit {row['fit_s']:.2f}s"
    say(
        f"[{i:>{len(str(total))}}/{total}] {row['split']:>5} {row['extractor']} x {row['backend']}"
        f" k={row['k']:<2} seed={row['seed']}  {what}  purity {row['purity']:.3f}"
        f"  nmi {row['nmi']:.3f}  ({_clock(elapsed)})"
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(math.floor(seconds), 60)
    return f"{minutes}:{secs:02d}"

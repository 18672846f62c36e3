"""The grid runner: dataset -> features (cached) -> backend -> labels + centres -> result rows.

One tidy row per (dataset, split, extractor, backend, k, seed). The k sweep runs on the first
seed only (unless ``sweep_all_seeds``), while ``eval_k`` runs on every seed. Finished rows are
appended to ``OUT/.partial.jsonl`` as they come, so a killed run started again with the same
config and output folder resumes where it stopped; the file is removed when the run completes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

import clustering
import features
from benchmarks import datasets
from benchmarks.atomic import atomic_open, remove_stale_temporaries, write_text
from benchmarks.cache import Cache, make_key
from benchmarks.config import GridConfig
from benchmarks.errors import UserError
from benchmarks.system import say
from clustering.metrics import scores, wcss

#: results.csv columns, in order (DESIGN.md section 3, then the extra facts the report uses).
COLUMNS = [
    "dataset",
    "split",
    "n_samples",
    "extractor",
    "feature_dim",
    "backend",
    "k",
    "seed",
    "wcss",
    "purity",
    "macro_purity",
    "acc",
    "nmi",
    "ari",
    "n_iter",
    "extract_s",
    "fit_s",
    "predict_s",
    "eval_k",
    "in_sweep",
    "supervised",
    "extractor_fit_s",
    "extractor_test_acc",
    "n_threads",
    "extractor_params",
    "backend_params",
    "peak_rss_mb",
]
PARTIAL = ".partial.jsonl"
#: Datasets at least this large are extracted by ``n_threads`` worker processes.
PARALLEL_EXTRACT_MIN = 200_000


@dataclass(frozen=True)
class Features:
    """An extractor's features for every image of a dataset, with how they were obtained."""

    name: str
    X: np.ndarray
    supervised: bool
    meta: dict[str, Any]
    cached: bool


def extract(
    ds: datasets.Dataset, name: str, params: dict[str, Any], cache: Cache, workers: int = 1
) -> Features:
    """Features of all images of ``ds`` by extractor ``name``, from the cache when present.

    A supervised extractor is fitted on the training images only and scored on the test images.
    The features are computed block by block (``workers`` processes for an unsupervised
    extractor) and written to the cache as they come, so a dataset larger than memory works;
    a large result comes back memory-mapped.
    """
    from benchmarks.chunks import transform_blocks

    extractor = features.make(name, **params)
    versions = {dist: _version(dist) for dist in extractor.requires}
    key = make_key(
        kind="features",
        dataset=ds.name,
        checksum=ds.checksum,
        extractor=name,
        params=extractor.get_params(),
        version=extractor.version,
        packages=versions,
    )

    def compute() -> tuple[Iterator[np.ndarray], int, dict[str, Any]]:
        say(f"extracting {name} features of {len(ds):,} {ds.name} images ...")
        meta: dict[str, Any] = {"fit_s": None, "test_acc": None}
        start = time.perf_counter()
        try:  # plug-ins check their parameters in fit, as scikit-learn estimators do
            if extractor.supervised:
                extractor.fit(ds.images[ds.is_train], ds.labels[ds.is_train], cache=cache)
            else:
                extractor.fit(ds.images)
        except ValueError as exc:
            raise UserError(f"extractor {name!r}: {exc}") from None
        if extractor.supervised:
            meta["fit_s"] = time.perf_counter() - start
            meta["test_acc"] = extractor.score(ds.images[~ds.is_train], ds.labels[~ds.is_train])

        def blocks() -> Iterator[np.ndarray]:
            start, rows, bad, dim = time.perf_counter(), 0, 0, 0
            for X in transform_blocks(extractor, ds.images, workers):
                if X.ndim != 2:
                    raise RuntimeError(f"extractor {name!r} returned shape {X.shape}")
                rows, dim = rows + len(X), X.shape[1]
                bad += int((~np.isfinite(X)).any(axis=1).sum())
                yield X
            if rows != len(ds):
                raise RuntimeError(f"extractor {name!r} returned {rows} rows for {len(ds)} images")
            if bad:
                raise UserError(f"extractor {name!r} produced NaN or inf features for {bad} images")
            meta["transform_s"] = time.perf_counter() - start
            say(f"  {name}: {dim}-d in {meta['transform_s']:.1f} s")

        return blocks(), len(ds), meta

    X, meta, cached = cache.array_blocks(key, compute)
    if cached:
        say(f"{name}: {X.shape[1]}-d features of {len(ds):,} images from the cache")
    return Features(name, X, bool(extractor.supervised), meta, cached)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


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
    n_threads: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit one backend at one (k, seed) and score it.

    Returns the metric and timing columns of a row, and the predicted labels.
    """
    model = clustering.make(backend, n_clusters=k, seed=seed, n_threads=n_threads, **params)
    start = time.perf_counter()
    model.fit(X)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    labels = model.predict(X)
    predict_s = time.perf_counter() - start
    centers = np.asarray(model.cluster_centers_, dtype=np.float32)
    row = {
        "wcss": wcss(X, labels, centers),
        **scores(y, labels),
        "n_iter": int(model.n_iter_),
        "fit_s": fit_s,
        "predict_s": predict_s,
    }
    return row, labels


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children so far, in MiB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def labels_path(out_dir: Path, row: dict[str, Any]) -> Path:
    """Where the predicted labels of an eval_k row are kept (``OUT/labels/*.npz``)."""
    name = f"{row['split']}-{row['extractor']}-{row['backend']}-k{row['k']}-seed{row['seed']}.npz"
    return out_dir / "labels" / name


def save_labels(path: Path, index: np.ndarray, labels: np.ndarray) -> None:
    """Save the dataset positions and predicted cluster of every image of a cell, atomically."""
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, index=index.astype(np.int32), labels=labels.astype(np.int16))


class Partial:
    """Rows finished so far by a run into one output folder, for resuming after a kill."""

    def __init__(self, out_dir: Path, config_hash: str) -> None:
        self.path = out_dir / PARTIAL
        self.config_hash = config_hash

    def load(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Rows of an interrupted run of the same config (a torn last line is ignored)."""
        if not self.path.exists():
            return {}
        lines = self.path.read_text().splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("config_hash") != self.config_hash:
            say("ignoring the partial results of an earlier run with another config")
            return {}
        done = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row_key(row)] = row
        if done:
            say(f"resuming: {len(done)} rows of an interrupted run are kept")
        return done

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Begin the file afresh with the rows kept from an earlier attempt."""
        lines = [json.dumps({"config_hash": self.config_hash})] + [json.dumps(r) for r in rows]
        write_text(self.path, "".join(line + "\n" for line in lines))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in ("dataset", "split", "extractor", "backend", "k", "seed"))


@contextlib.contextmanager
def output_folder(out_dir: Path) -> Iterator[Path]:
    """Create ``out_dir``, check it is writable and hold its lock for the whole run."""
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
        remove_stale_temporaries(out_dir)
        yield out_dir
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            (out_dir / ".lock").unlink()


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


def preflight(cfg: GridConfig, ds: datasets.Dataset) -> dict[str, bool]:
    """Try every unsupervised extractor on two images, so a misfit fails before any long work.

    Returns whether each extractor is supervised.
    """
    supervised = {}
    for name, params in cfg.features.items():
        extractor = features.make(name, **params)
        supervised[name] = bool(extractor.supervised)
        if not extractor.supervised:
            extractor.fit(ds.images[:2]).transform(ds.images[:2])
    return supervised


def run_grid(cfg: GridConfig, out_dir: Path, cache: Cache) -> pd.DataFrame:
    """Run the whole grid into ``out_dir`` and return the result rows (also in results.csv)."""
    from benchmarks import environment, report

    n_threads = cfg.n_threads
    with output_folder(out_dir):
        ds = datasets.load(cfg.dataset, cfg.limit, cache_dir=cache.root)
        supervised = preflight(cfg, ds)
        check_sizes(cfg, ds, any(supervised.values()))
        partial = Partial(out_dir, cfg.hash())
        done = partial.load()
        partial.start(list(done.values()))
        pairs = jobs(cfg)
        total = sum(
            len(splits_for(cfg, sup)) * len(cfg.backends) * len(pairs)
            for sup in supervised.values()
        )
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        for ext_name, ext_params in cfg.features.items():
            # worker processes only pay off (and fork safely, before TensorFlow) on large sets
            workers = n_threads if len(ds) >= PARALLEL_EXTRACT_MIN else 1
            feats = extract(ds, ext_name, ext_params, cache, workers=workers)
            for split in splits_for(cfg, feats.supervised):
                mask = ds.mask(split)
                # split `all` uses the (possibly memory-mapped) features as they are: no copy
                X = feats.X if mask.all() else np.ascontiguousarray(feats.X[mask])
                y = ds.labels[mask]
                index = np.flatnonzero(mask)
                for backend, backend_params in cfg.backends.items():
                    for k, seed, in_sweep in pairs:
                        base = {
                            "dataset": ds.name,
                            "split": split,
                            "n_samples": len(y),
                            "extractor": ext_name,
                            "feature_dim": X.shape[1],
                            "backend": backend,
                            "k": k,
                            "seed": seed,
                        }
                        row = done.get(row_key(base))
                        reused = row is not None
                        if row is None:
                            result, labels = fit_one(
                                X, y, backend, backend_params, k, seed, n_threads
                            )
                            row = {
                                **base,
                                **result,
                                "extract_s": feats.meta["transform_s"],
                                "eval_k": k == cfg.eval_k,
                                "in_sweep": in_sweep,
                                "supervised": feats.supervised,
                                "extractor_fit_s": feats.meta.get("fit_s"),
                                "extractor_test_acc": feats.meta.get("test_acc"),
                                "n_threads": n_threads,
                                "extractor_params": json.dumps(ext_params, sort_keys=True),
                                "backend_params": json.dumps(backend_params, sort_keys=True),
                                "peak_rss_mb": peak_rss_mb(),
                            }
                            if k == cfg.eval_k:
                                save_labels(labels_path(out_dir, row), index, labels)
                            partial.append(row)
                        rows.append(row)
                        _progress(len(rows), total, row, started, reused)
        frame = pd.DataFrame(rows, columns=COLUMNS)
        report.write_results(frame, out_dir)
        env = environment.collect(cfg, ds)
        write_text(out_dir / "environment.json", json.dumps(env, indent=2, sort_keys=True) + "\n")
        report.render(out_dir)
        partial.remove()
    return frame


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

"""Where a run's results go: its output folder (made and locked by :func:`output_folder`), the
resume journal, the label and linkage files, and at the end
``results.csv``, ``environment.json`` and the time records (``benchmark.json``,
``timeshare.json``).

A :class:`Recorder` belongs to one run in one output folder. It keeps the rows an interrupted
run of the same config finished (:meth:`Recorder.kept`), journals finished rows as they come
(:mod:`mnist_bench.grid.journal`), and writes the files the report is rendered from
(:meth:`Recorder.finish`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from mnist_bench.analyses.kselect.sample import ward_linkage
from mnist_bench.analyses.time.benchmark import benchmark_json
from mnist_bench.analyses.time.clock import Clock, timeshare
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import (
    remove,
    remove_stale_temporaries,
    write_npz,
    write_text,
    writing_in,
)
from mnist_bench.core.errors import UserError
from mnist_bench.core.own_files import UNREADABLE
from mnist_bench.core.system import say
from mnist_bench.data.datasets import Dataset
from mnist_bench.grid import environment
from mnist_bench.grid.config import GridConfig
from mnist_bench.grid.journal import Journal
from mnist_bench.grid.plan import Job
from mnist_bench.grid.results import write_results

JOURNAL = "resume journal"


class Recorder:
    """The files of one run in ``out_dir``; journal and label-file times go to ``clock``."""

    def __init__(self, out_dir: Path, cfg: GridConfig, clock: Clock) -> None:
        self.out_dir, self.clock = out_dir, clock
        with clock.stage(JOURNAL):
            self.journal = Journal(out_dir, cfg.hash())
            self.done = self.journal.load()
            self.journal.start(list(self.done.values()))

    def kept(self, jobs: list[Job], dataset: str, index: np.ndarray) -> dict[Job, dict | None]:
        """The rows of one cell's ``jobs`` that an interrupted run finished (None: to compute).

        An eval_k row whose label file is missing or damaged is computed again. The sweep's
        rows are scored together (one product, whose last bits depend on the labelings in
        it), so they are kept whole or computed again whole.
        """
        kept = {job: self._done(dataset, job) for job in jobs}
        for job, row in kept.items():
            if row is not None and job.eval_k and job.start == words.OWN:
                path = labels_path(self.out_dir, row)
                if not labels_ok(path, index, int(row["k"])):
                    say(f"warning: {path.name} is missing or damaged; recomputing its row")
                    kept[job] = None
        sweep = [job for job in jobs if job.in_sweep]
        if any(kept[job] is None for job in sweep):
            kept.update(dict.fromkeys(sweep))
        return kept

    def _done(self, dataset: str, job: Job) -> dict | None:
        """The row of ``job`` an interrupted run finished (a backend that chose its own number
        of clusters: whatever k it found), or None."""
        if job.k is not None:
            return self.done.get((dataset, *job.cell, job.k, job.seed))
        cell = (dataset, *job.cell)
        found = (row for key, row in self.done.items() if key[:4] == cell and key[5] == job.seed)
        return next(found, None)

    def labels(self, job: Job, row: dict[str, Any], index: np.ndarray, labels: np.ndarray) -> None:
        """Keep the predicted labels of an eval_k row of a backend's own start."""
        if job.eval_k and job.start == words.OWN:
            with self.clock.stage("label files"):
                save_labels(labels_path(self.out_dir, row), index, labels)

    def linkage(self, split: str, extractor: str, X: np.ndarray, y: np.ndarray) -> None:
        """Keep the Ward linkage of a seeded sample of ``X`` for the report's dendrogram."""
        with self.clock.stage("k selection: linkage"):
            save_linkage(self.out_dir, split, extractor, X, y)

    def rows(self, *rows: dict[str, Any]) -> None:
        """Journal finished rows (in one write: a cell's sweep is kept whole or not at all)."""
        if rows:
            with self.clock.stage(JOURNAL):
                self.journal.append(*rows)

    def finish(
        self, rows: list[dict[str, Any]], cfg: GridConfig, ds: Dataset, unpinned: dict[str, str]
    ) -> pd.DataFrame:
        """Write results.csv and environment.json, then the record of time and what derives
        from it (:func:`write_times`); remove the journal. ``unpinned``: the extractors whose
        features depend on the CPU, and why."""
        with self.clock.stage("results.csv, environment.json"):
            frame = pd.DataFrame(rows, columns=list(words.COLUMNS))
            write_results(frame, self.out_dir)
            env = environment.collect(cfg, ds, unpinned)
            text = json.dumps(env, indent=2, sort_keys=True) + "\n"
            write_text(self.out_dir / words.ENVIRONMENT, text, folder=self.out_dir)
        write_times(self.out_dir, self.clock)
        self.journal.remove()
        return frame


@contextlib.contextmanager
def output_folder(out_dir: Path) -> Iterator[Path]:
    """Create ``out_dir``, check it is writable and hold its lock for the whole run.

    A folder this call created is removed again when the run fails before writing anything in
    it, so a refused run leaves no empty ``--out`` behind.

    Within it every file written or removed under ``out_dir`` must resolve inside it, links
    included (:func:`mnist_bench.core.atomic.writing_in`), the lock file too.
    """
    created = not out_dir.exists()
    if not created:  # before any work: a name of ours that is a link to elsewhere is refused
        for name in _own_names(out_dir):
            words.inside(out_dir, name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: the probe is created here, not written through a link of that name
        probe = out_dir / f".write-test-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output folder {out_dir}: {exc.strerror}") from None
    with writing_in(out_dir):
        lock_file = words.inside(out_dir, words.LOCK)  # a link to a file elsewhere is refused
        lock = FileLock(str(lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise UserError(f"another run is writing to {out_dir}; choose another --out") from None
        try:
            remove_stale_temporaries(out_dir, recursive=True)  # labels/, montages/, ... too
            yield out_dir
        finally:
            lock.release()
            remove(lock_file)
            if created:
                with contextlib.suppress(OSError):
                    out_dir.rmdir()  # only if empty: the run wrote nothing


def _own_names(out_dir: Path) -> list[str]:
    """The names in ``out_dir`` the suite writes: its fixed names, its plots, and the links in
    its subfolders (a user's own files and links elsewhere in the folder are not ours)."""
    names = list(words.RUN_NAMES)
    with contextlib.suppress(OSError):
        names += [p.name for p in out_dir.iterdir() if p.suffix == ".png" and p.is_symlink()]
    for folder in (words.LABELS_DIR, words.MONTAGES_DIR, words.HEATMAPS_DIR, words.MAPS_DIR,
                   words.DENDROGRAMS_DIR):  # fmt: skip
        path = out_dir / folder
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                names += [f"{folder}/{p.name}" for p in path.iterdir() if p.is_symlink()]
    return names


def write_times(out_dir: Path, clock: Clock, wall_s: float | None = None) -> None:
    """Write the run's one record of time (``times.json``: every span ``clock`` holds, one a
    line) and the files derived from it: ``timeshare.json`` (seconds per stage, library and
    suite) and ``benchmark.json`` (pytest-benchmark's statistics of the stages)."""
    record = clock.record(wall_s)
    head = json.dumps({key: value for key, value in record.items() if key != "spans"})
    spans = ",\n".join(json.dumps(span) for span in record["spans"])
    text = f'{head[:-1]}, "spans": [\n{spans}\n]}}\n'
    write_text(out_dir / words.TIMES, text, folder=out_dir)
    text = json.dumps(timeshare(record), indent=1) + "\n"
    write_text(out_dir / words.TIMESHARE, text, folder=out_dir)
    env = environment.read(out_dir / words.ENVIRONMENT)
    bench = benchmark_json(record, env)
    write_text(out_dir / words.BENCHMARK, json.dumps(bench, indent=1) + "\n", folder=out_dir)


def labels_path(out_dir: Path, row: dict[str, Any]) -> Path:
    """Where the predicted labels of an eval_k row are kept (``OUT/labels/*.npz``)."""
    parts = (row["split"], row["extractor"], row["backend"], row["k"], row["seed"])
    return words.inside(out_dir, words.labels_file(*parts))


def labels_ok(path: Path, index: np.ndarray, k: int | None = None) -> bool:
    """Whether ``path`` holds the labels of the images at ``index`` (an interrupted run's), each
    a cluster ``0 .. k-1`` or noise (``-1``) when ``k`` is given."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            kept, labels = npz["index"], npz["labels"]
    except UNREADABLE:
        return False
    return (
        np.array_equal(kept, index)
        and labels.shape == index.shape
        and np.issubdtype(labels.dtype, np.integer)
        and (k is None or not len(labels) or (labels.min() >= -1 and labels.max() < k))
    )


def save_labels(path: Path, index: np.ndarray, labels: np.ndarray) -> None:
    """Save the dataset positions and predicted cluster of every image of a cell, atomically.

    A file that already holds the same labels is left as it is, so the pictures drawn from it
    (which are redrawn when older than their labels) are not drawn again by a rerun.
    """
    index, labels = index.astype(np.int32), labels.astype(np.int16)
    if not _holds(path, index=index, labels=labels):
        write_npz(path, index=index, labels=labels)


def save_linkage(out_dir: Path, split: str, extractor: str, X: np.ndarray, y: np.ndarray) -> None:
    """Keep the Ward linkage of a seeded sample of ``X``, with the sample's digits, for the
    report's dendrogram (``OUT/dendrograms/*.npz``); a file with the same content is left alone.
    """
    Z, index = ward_linkage(X)
    path = words.inside(out_dir, words.linkage_file(split, extractor))
    if not _holds(path, linkage=Z, index=index):
        labels = y[index]
        write_npz(path, folder=out_dir, linkage=Z, index=index.astype(np.int32), labels=labels)


def _holds(path: Path, **arrays: np.ndarray) -> bool:
    """Whether the ``.npz`` at ``path`` holds ``arrays`` already (unreadable: it does not)."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as old:
            return all(np.array_equal(old[name], value) for name, value in arrays.items())
    except UNREADABLE:
        return False

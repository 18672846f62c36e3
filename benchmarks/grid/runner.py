"""The grid runner: plan -> run -> record, from a config to ``results.csv``.

:func:`run_grid` turns the config into jobs (:mod:`mnist_bench.grid.plan`: one per result
row), makes each extractor's features once (through the cache,
:mod:`mnist_bench.grid.extraction`), runs each job (:mod:`mnist_bench.grid.execute`: fit,
predict, score) and hands its row to the recorder (:mod:`mnist_bench.grid.record`: the resume
journal as rows come, label files, and at the end results.csv, environment.json and the time
records). A killed run started again with the same config and output folder resumes where it
stopped. Rendering the rows is the report's job.

Every stage is timed on one :class:`mnist_bench.analyses.time.clock.Clock`, the run's one record of
time, the libraries' seconds apart from the suite's own, each span labelled with the job or
extractor it was about; each job is also timed as a whole around its stages, and its row's
``own_s`` is that time less the library's fit and predict.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_bench.analyses.time.benchmark import MADE
from mnist_bench.analyses.time.clock import LIBRARY, RESUMED, Clock, timed
from mnist_bench.core.cache import Cache
from mnist_bench.core.system import say
from mnist_bench.data import datasets
from mnist_bench.grid import budget
from mnist_bench.grid.checks import load_dataset, prepare
from mnist_bench.grid.config import GridConfig
from mnist_bench.grid.execute import SplitData, run_job, score_sweep
from mnist_bench.grid.extraction import Features, extract
from mnist_bench.grid.plan import Job, grouped, plan
from mnist_bench.grid.record import Recorder

#: Datasets at least this large are extracted by ``threads`` worker processes.
PARALLEL_EXTRACT_MIN = 200_000


def run_grid(
    cfg: GridConfig,
    out_dir: Path,
    cache: Cache,
    clock: Clock | None = None,
    prepared: tuple[datasets.Dataset, dict[str, bool]] | None = None,
) -> pd.DataFrame:
    """Run the whole grid into ``out_dir`` and return the result rows (also in results.csv).

    Call it inside :func:`mnist_bench.grid.record.output_folder`, which holds the folder's lock;
    ``prepared`` is what :func:`mnist_bench.grid.checks.prepare` returned before the folder was
    made (else it is called here).
    """
    clock = clock or Clock()
    if prepared is None:
        with clock.stage("load data"):
            ds = load_dataset(cfg, cache)
        with clock.stage("checks (parameters, sizes, memory)"):
            prepared = prepare(cfg, cache, ds)
    ds, supervised = prepared
    jobs = plan(cfg, supervised)
    recorder = Recorder(out_dir, cfg, clock)
    progress = Progress(len(jobs))
    rows: list[dict[str, Any]] = []
    unpinned: dict[str, str] = {}  # extractor -> why its features differ between CPU models
    for extractor, its_jobs in grouped(jobs, lambda job: job.extractor):
        feats = features_of(cfg, ds, cache, extractor, clock)
        for i, (split, split_jobs) in enumerate(grouped(its_jobs, lambda job: job.split)):
            with clock.stage(f"extract: {extractor}"):
                data = SplitData.of(ds, feats, split, cfg.threads_in_use)
            if i == 0:
                recorder.linkage(split, extractor, data.X, data.y)
            for _, cell_jobs in grouped(split_jobs, lambda job: job.cell):
                rows += run_cell(cell_jobs, data, cfg, recorder, progress)
        if feats.unpinned:
            unpinned[extractor] = feats.unpinned
        # these features go before the next extractor's are made (the memory check counts
        # one extractor's features at a time)
        del feats, data
    return recorder.finish(rows, cfg, ds, unpinned)


def features_of(
    cfg: GridConfig, ds: datasets.Dataset, cache: Cache, name: str, clock: Clock
) -> Features:
    """Extractor ``name``'s features of every image (from the cache, or made into it)."""
    # worker processes only pay off (and fork safely, before TensorFlow) on large sets
    processes = cfg.threads_in_use if len(ds) >= PARALLEL_EXTRACT_MIN else 1
    stage = f"extract: {name}"
    with timed() as span:
        try:
            feats = extract(ds, cfg.steps(name), cache, threads=processes, name=name)
        except MemoryError:
            what = f"extractor {name!r} on {len(ds):,} images"
            raise budget.out_of_memory(what, len(ds), None) from None
    note = "read from the cache" if feats.cached else None
    made = {MADE: feats.meta["transform_s"], "n_images": len(ds)}
    clock.add(stage, feats.library_s, LIBRARY, note, extractor=name, **made)
    clock.add(stage, span.seconds - feats.library_s, extractor=name)
    return feats


def run_cell(
    jobs: list[Job], data: SplitData, cfg: GridConfig, recorder: Recorder, progress: Progress
) -> list[dict[str, Any]]:
    """The rows of one cell's jobs: kept from an interrupted run, or computed and recorded.

    A row outside the sweep is journaled when done; the sweep's rows get their k-selection
    scores together at the end (:func:`score_sweep`) and are journaled in one write.
    """
    kept = recorder.kept(jobs, data.dataset.name, data.index)
    clock = recorder.clock
    rows, sweep = [], []
    for job in jobs:
        row = kept[job]
        with clock.about(**job_labels(job, data)):
            if row is not None:
                resumed(job, row, clock)
                rows.append(row)
                progress(row, reused=True)
                continue
            with timed() as span:  # the job and its label file: the row's own time is the rest
                row, labels = run_job(job, data, cfg, clock)
                recorder.labels(job, row, data.index, labels)
        row["own_s"] = span.seconds - row["fit_s"] - row["predict_s"]
        if job.in_sweep:
            sweep.append((row, labels))
        else:
            recorder.rows(row)
        rows.append(row)
        progress(row, reused=False)
    score_sweep(sweep, data, clock)
    recorder.rows(*(row for row, _ in sweep))
    return rows


def job_labels(job: Job, data: SplitData) -> dict[str, Any]:
    """What the spans of ``job`` are about, in the record of time."""
    about = {"split": job.split, "extractor": job.extractor, "backend": job.backend}
    return about | {"k": job.k, "seed": job.seed, "eval_k": job.eval_k, "n_samples": len(data.y)}


def resumed(job: Job, row: dict[str, Any], clock: Clock) -> None:
    """Put the fit and predict an interrupted run measured for ``row`` in the record, marked."""
    clock.add(f"fit: {job.plugin}", row["fit_s"], LIBRARY, **{RESUMED: True})
    clock.add(f"predict: {job.plugin}", row["predict_s"], LIBRARY, **{RESUMED: True})


class Progress:
    """One line per finished row: ``[i/total] split extractor x backend k seed  fit  scores``."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def __call__(self, row: dict[str, Any], reused: bool) -> None:
        self.done += 1
        elapsed = math.floor(time.perf_counter() - self.started)
        what = "kept from the interrupted run" if reused else f"fit {row['fit_s']:.2f}s"
        say(
            f"[{self.done:>{len(str(self.total))}}/{self.total}] {row['split']:>5} "
            f"{row['extractor']} x {row['backend']} k={row['k']:<2} seed={row['seed']}  {what}"
            f"  purity {row['purity']:.3f}  nmi {row['nmi']:.3f}"
            f"  ({elapsed // 60}:{elapsed % 60:02d})"
        )

"""The scale study's measurements (``mnist-bench scale``): wall time and peak memory of
extraction + k-means (k = 10, seed 0) against N, on the ``scale`` dataset.

For every N the dataset is generated (or loaded) once, in its own process, timed apart. Each
(N, backend) is then measured in a fresh process (``mnist-bench scale --one N BACKEND``), so its
peak RSS is its own: load the images (memory-mapped), extract the features into a private,
emptied feature cache (block by block, to a ``.npy`` on disk), fit and predict as the grid does
(:func:`fit_one`). A measurement that runs past the timeout is killed and recorded so, and its
backend is then skipped at every larger N. Each backend that can start from given centres is
also measured as ``BACKEND@shared``: from the same k-means++ centres (scikit-learn's
``kmeans_plusplus``, seed 0) for a fixed number of Lloyd iterations without a tolerance, the same
work for every library. Rows go to ``OUT/results.csv`` as they finish; a rerun skips the rows
there. ``OUT/bandwidth.json`` holds the machine's memory bandwidth, measured once per folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_bench import clustering
from mnist_bench.analyses.shared_starts.starts import kmeans_plusplus_start
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import remove_tree, write_text
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.system import say
from mnist_bench.data import datasets, scale
from mnist_bench.grid import scale_config, scale_results
from mnist_bench.grid.environment import memory_bandwidth
from mnist_bench.grid.execute import fit_one, peak_rss_mb
from mnist_bench.grid.extraction import extract
from mnist_bench.grid.scale_config import ScaleConfig

#: k and seed of every measurement.
K, SEED = 10, 0


@dataclass(frozen=True)
class Study:
    """One ``mnist-bench scale`` command: what to measure, where, and the numerics mode."""

    cfg: ScaleConfig
    out: Path
    cache_dir: Path
    numerics: str

    def child_flags(self) -> list[str]:
        """The flags a measuring child gets: it measures as this study does."""
        return [
            "--extractor", self.cfg.extractor, "--threads", str(self.cfg.threads_in_use),
            "--iterations", str(self.cfg.iterations), "--cache-dir", str(self.cache_dir),
            "--numerics", self.numerics,
        ]  # fmt: skip


def measure(n: int, backend: str, cfg: ScaleConfig, cache_dir: Path) -> dict[str, Any]:
    """One measurement, in this process: extraction + fit + predict of ``backend`` on N images
    (``NAME@shared``: from the shared k-means++ start, ``cfg.iterations`` iterations)."""
    threads = cfg.threads_in_use
    ds = datasets.load("scale", n, cache_dir=cache_dir)
    scratch = cache_dir / "scale-bench" / f"{n}-{backend}-{cfg.extractor}"
    remove_tree(scratch, folder=cache_dir)  # inside the cache folder, links included
    try:
        start = time.perf_counter()
        feats = extract(ds, [(cfg.extractor, {})], Cache(scratch), threads=threads)
        extract_s = time.perf_counter() - start
        plugin, params, start_s = backend.removesuffix(words.SHARED_SUFFIX), {}, float("nan")
        if backend.endswith(words.SHARED_SUFFIX):
            begin = time.perf_counter()
            centres = kmeans_plusplus_start(feats.X, K, SEED)
            start_s = time.perf_counter() - begin
            params = clustering.BACKENDS.load(plugin).start_params(centres, cfg.iterations)
        row, _ = fit_one(feats.X, ds.labels, plugin, params, K, SEED, threads)
        total_s = time.perf_counter() - start
        return {
            "n": n, "backend": backend, "extractor": cfg.extractor, "status": "ok",
            "total_s": total_s, "extract_s": extract_s, "fit_s": row["fit_s"],
            "predict_s": row["predict_s"], "peak_rss_mb": peak_rss_mb(),
            "feature_mb": feats.X.nbytes / 2**20, "purity": row["purity"],
            "n_iter": row["n_iter"], "threads": threads, "s_per_iter": row["s_per_iter"],
            "wcss": row["wcss"], "start_s": start_s,
        }  # fmt: skip
    finally:
        remove_tree(scratch, folder=cache_dir)


def generate(n: int, cfg: ScaleConfig, cache_dir: Path) -> dict[str, Any]:
    """Make (or find) the ``scale`` dataset of N images in the cache, in this process."""
    scale.load_scale(n, cache_dir=cache_dir, threads=cfg.threads_in_use)
    return {"n": n, "status": "ok"}


def child(study: Study, one: list[str] | None, generate_n: int | None) -> dict[str, Any]:
    """What a measuring child does (``--one N BACKEND`` or ``--generate N``): its JSON row."""
    if one is None:
        return generate(_size(str(generate_n)), study.cfg, study.cache_dir)
    return measure(_size(one[0]), one[1], study.cfg, study.cache_dir)


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"N must be a positive integer, got {text!r}")
    return int(text)


def keep_settings(study: Study) -> None:
    """Before ``scale --render``: a folder from before ``scale.json`` gets the study's settings
    (those the command was given); one that has them keeps its own."""
    scale_results.read(study.out)  # the rows are there and sound before anything is written
    if scale_config.read_settings(study.out) is None:
        scale_config.write_settings(study.out, scale_config.settings(study.cfg, study.numerics))


def _child(flags: list[str], timeout: float) -> tuple[str, dict[str, Any] | None, float]:
    """Run ``python -m mnist_bench scale FLAGS``: (status, its last JSON line, seconds)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mnist_bench", "scale", *flags],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout", None, time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        status = "oom-killed" if proc.returncode in (-9, 137) else f"failed ({' | '.join(tail)})"
        return status, None, seconds
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return "ok", json.loads(lines[-1]) if lines else None, seconds


def run(study: Study) -> None:
    """Every measurement of ``study`` not yet in ``OUT/results.csv``, smallest N first.

    The output folder exists (the caller holds it); its settings are checked against the
    study's first, so rows measured otherwise are never mixed.
    """
    cfg, out = study.cfg, study.out
    recorded = scale_config.settings(cfg, study.numerics)
    scale_config.check_rerun(out, recorded)
    rows = scale_results.read(out) if (out / words.RESULTS).is_file() else []
    scale_config.write_settings(out, recorded)
    if not (out / words.BANDWIDTH).exists():  # here, not in the children: their peaks are theirs
        bandwidth = memory_bandwidth(cfg.threads_in_use)
        write_text(out / words.BANDWIDTH, json.dumps(bandwidth, indent=1) + "\n")
    measured = cfg.measured()
    for n in cfg.sizes:
        _measure_size(study, n, measured, rows)


def _measure_size(study: Study, n: int, measured: list[str], rows: list[dict[str, Any]]) -> None:
    """The measurements at N that ``rows`` lacks, each added to ``rows`` and written."""
    cfg = study.cfg
    done = {(r["n"], r["backend"], r["extractor"]) for r in rows}
    stopped = {r["backend"] for r in rows if r["status"] != "ok" and r["n"] < n}
    generate_s = None
    for backend in measured:
        if (n, backend, cfg.extractor) in done:
            continue
        row: dict[str, Any] = {"n": n, "backend": backend, "extractor": cfg.extractor}
        if backend in stopped:  # it did not finish a smaller N: a larger one is no use
            row.update(status="skipped", threads=cfg.threads_in_use)
        else:
            if generate_s is None:
                flags = ["--generate", str(n), *study.child_flags()]
                status, _, generate_s = _child(flags, cfg.timeout)
                say(f"N={n:,}: dataset {status} in {generate_s:.0f} s")
            row.update(_measure_in_child(study, n, backend), generate_s=generate_s)
            say(
                f"N={n:,} {backend}: {row['status']} {row['total_s']:.1f} s, "
                f"peak {row.get('peak_rss_mb', float('nan')):.0f} MB"
            )
        rows.append(scale_results.checked(row))
        rows.sort(key=lambda r: (r["n"], _position(r["backend"], measured)))
        scale_results.write(rows, study.out)


def _measure_in_child(study: Study, n: int, backend: str) -> dict[str, Any]:
    """Measure (N, backend) in a fresh process: its row, or how it ended and after how long."""
    flags = ["--one", str(n), backend, *study.child_flags()]
    status, row, seconds = _child(flags, study.cfg.timeout)
    if row is None:
        return {"status": status, "total_s": seconds, "threads": study.cfg.threads_in_use}
    return row


def _position(backend: str, measured: list[str]) -> int:
    """Where a backend's rows stand at their N: in the order measured, others after them."""
    return measured.index(backend) if backend in measured else len(measured)

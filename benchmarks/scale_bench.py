"""The scale benchmark: wall time and peak memory of extraction + KMeans (k=10) against N.

``python -m mnist_bench.scale_bench [--sizes 70000,250000,1000000] [--backends sklearn,faiss,dask]
[--features raw] [--threads 2] [--timeout 600] [--iterations 25] [--out reports/scale]
[--cache-dir DIR]``

For every N the ``scale`` dataset is generated once (its own subprocess, timed apart). Then each
(N, backend) is measured in a fresh subprocess, so its peak RSS is its own: load the images
(memory-mapped), extract the features into a private, emptied feature cache (block by block, to
a ``.npy`` on disk), fit at k=10 with seed 0 and predict, as the grid runner does. A measurement
that runs past ``--timeout`` seconds is killed and reported as such, and that backend is then
skipped at larger N. Each backend that can start from given centres is also measured as
``BACKEND@shared``: from the same k-means++ centres (scikit-learn's ``kmeans_plusplus``, seed 0)
for ``--iterations`` Lloyd iterations without a tolerance, so its time per iteration and final
WCSS compare the libraries on the same work. Rows go to
``OUT/results.csv`` as they finish (a rerun skips finished rows); ``OUT/REPORT.md`` holds the
table and the fitted log-log slope per backend, ``OUT/scale.png`` the log-log plot.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mnist_bench.core.errors import UserError
from mnist_bench.core.vocabulary import SHARED_SUFFIX, shared_backend

DEFAULT_SIZES = (70_000, 250_000, 1_000_000)
DEFAULT_BACKENDS = ("sklearn", "faiss", "dask")
COLUMNS = [
    "n", "backend", "extractor", "status", "total_s", "extract_s", "fit_s", "predict_s",
    "peak_rss_mb", "feature_mb", "purity", "n_iter", "threads", "generate_s",
    "s_per_iter", "wcss", "start_s",
]  # fmt: skip
#: The machine's streaming bandwidth, measured once per output folder (the floor column).
BANDWIDTH_FILE = "bandwidth.json"


def measure(
    n: int, backend: str, extractor: str, threads: int, cache_dir: Path, iterations: int
) -> dict[str, Any]:
    """One measurement, in this process: extraction + fit + predict of ``backend`` on N images
    (``NAME@shared``: from the shared k-means++ start, ``iterations`` iterations)."""
    from mnist_bench import clustering
    from mnist_bench.clustering.starts import kmeans_plusplus_start
    from mnist_bench.core.cache import Cache
    from mnist_bench.data import datasets
    from mnist_bench.grid.extraction import extract
    from mnist_bench.grid.runner import fit_one, peak_rss_mb

    ds = datasets.load("scale", n, cache_dir=cache_dir)
    scratch = cache_dir / "scale-bench" / f"{n}-{backend}-{extractor}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        start = time.perf_counter()
        feats = extract(ds, [(extractor, {})], Cache(scratch), threads=threads)
        extract_s = time.perf_counter() - start
        plugin, params, start_s = backend.removesuffix(SHARED_SUFFIX), {}, float("nan")
        if backend.endswith(SHARED_SUFFIX):
            begin = time.perf_counter()
            centres = kmeans_plusplus_start(feats.X, 10, 0)
            start_s = time.perf_counter() - begin
            params = clustering.BACKENDS.load(plugin).start_params(centres, iterations)
        row, _ = fit_one(feats.X, ds.labels, plugin, params, 10, 0, threads)
        total_s = time.perf_counter() - start
        return {
            "n": n, "backend": backend, "extractor": extractor, "status": "ok",
            "total_s": total_s, "extract_s": extract_s, "fit_s": row["fit_s"],
            "predict_s": row["predict_s"], "peak_rss_mb": peak_rss_mb(),
            "feature_mb": feats.X.nbytes / 2**20, "purity": row["purity"],
            "n_iter": row["n_iter"], "threads": threads, "s_per_iter": row["s_per_iter"],
            "wcss": row["wcss"], "start_s": start_s,
        }  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _child(args: list[str], timeout: float) -> tuple[str, dict[str, Any] | None, float]:
    """Run ``python -m mnist_bench.scale_bench ARGS``; (status, last JSON line, seconds)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mnist_bench.scale_bench", *args],
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


def run(args: argparse.Namespace) -> pd.DataFrame:
    """All measurements not yet in ``OUT/results.csv``, smallest N first; returns all rows."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "results.csv"
    rows = pd.read_csv(csv).to_dict("records") if csv.exists() else []
    if not (out / BANDWIDTH_FILE).exists():  # here, not in the children: their peaks are their own
        from mnist_bench.grid.environment import memory_bandwidth

        bandwidth = memory_bandwidth(args.threads)
        (out / BANDWIDTH_FILE).write_text(json.dumps(bandwidth, indent=1) + "\n")
    done = {(r["n"], r["backend"], r["extractor"]) for r in rows}
    common = ["--threads", str(args.threads), "--cache-dir", str(args.cache_dir)]
    measured = [*args.backends, *(shared_backend(b) for b in args.backends if _accepts_init(b))]
    stopped = {r["backend"] for r in rows if r["status"] != "ok"}
    for n in sorted(args.sizes):
        generate_s = None
        for backend in measured:
            if (n, backend, args.features) in done:
                continue
            if backend in stopped:  # it did not finish a smaller N: a larger one is no use
                rows.append({"n": n, "backend": backend, "extractor": args.features,
                             "status": "skipped", "threads": args.threads})  # fmt: skip
                continue
            if generate_s is None:
                status, _, generate_s = _child(["--generate", str(n), *common], args.timeout)
                print(f"N={n:,}: dataset {status} in {generate_s:.0f} s", file=sys.stderr)
            one = ["--one", str(n), backend, "--features", args.features]
            one += ["--iterations", str(args.iterations), *common]
            status, row, seconds = _child(one, args.timeout)
            if row is None:
                row = {"n": n, "backend": backend, "extractor": args.features, "status": status,
                       "total_s": seconds, "threads": args.threads}  # fmt: skip
            row["generate_s"] = generate_s
            rows.append(row)
            if row["status"] != "ok":
                stopped.add(backend)
            pd.DataFrame(rows, columns=COLUMNS).to_csv(csv, index=False)
            print(
                f"N={n:,} {backend}: {row['status']} {row['total_s']:.1f} s, "
                f"peak {row.get('peak_rss_mb', float('nan')):.0f} MB",
                file=sys.stderr,
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    render(frame, out, args.timeout)
    return frame


def _check_names(backends: list[str], extractor: str) -> None:
    """Raise :class:`UserError` naming an unknown backend or extractor."""
    from mnist_bench import clustering, features

    for backend in backends:
        clustering.BACKENDS.load(backend)
    features.EXTRACTORS.load(extractor)


def _accepts_init(backend: str) -> bool:
    from mnist_bench import clustering

    return bool(getattr(clustering.BACKENDS.load(backend), "accepts_init", False))


def slopes(frame: pd.DataFrame, column: str = "total_s") -> dict[str, float]:
    """Per backend, the slope of log(``column``) against log(N) over finished runs."""
    fitted = {}
    for backend, group in frame[frame["status"] == "ok"].groupby("backend", sort=False):
        if group["n"].nunique() >= 2:
            slope, _ = np.polyfit(np.log(group["n"]), np.log(group[column]), 1)
            fitted[str(backend)] = float(slope)
    return fitted


def relative_wcss(frame: pd.DataFrame) -> pd.Series:
    """Each finished row's WCSS over the lowest WCSS at its N, minus 1 (0 for the best)."""
    wcss = pd.to_numeric(frame.get("wcss"), errors="coerce")
    best = wcss.groupby(frame["n"]).transform("min")
    return wcss / best - 1


def render(frame: pd.DataFrame, out: Path, timeout: float) -> None:
    """``OUT/REPORT.md`` (table + slopes) and ``OUT/scale.png`` (log-log) from the rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tabulate import tabulate

    fitted = slopes(frame)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for backend, group in frame.groupby("backend", sort=False):
        ok = group[group["status"] == "ok"]
        label = f"{backend} (slope {fitted[backend]:.2f})" if backend in fitted else str(backend)
        (line,) = ax.plot(ok["n"], ok["total_s"], "o-", label=label)
        capped = group[group["status"].isin(["timeout", "oom-killed"])]
        if len(capped):
            ax.plot(capped["n"], capped["total_s"], "x", color=line.get_color(), markersize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N images")
    ax.set_ylabel("extraction + fit + predict (s)")
    ax.set_title("scale benchmark, k=10 (x: stopped, not finished)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=120)
    plt.close(fig)

    table = frame.copy()
    if (out / BANDWIDTH_FILE).exists() and "s_per_iter" in frame.columns:
        per_s = json.loads((out / BANDWIDTH_FILE).read_text())["bytes_per_s"]
        floor_s = frame["feature_mb"] * 2**20 / per_s  # one read of the features
        table["x_floor"] = (frame["s_per_iter"] / floor_s).map(
            lambda v: "" if pd.isna(v) else f"{v:.1f}"
        )
    table["wcss_vs_best"] = relative_wcss(frame).map(
        lambda v: "" if pd.isna(v) else f"{100 * v:+.3f}%"
    )
    table["n"] = table["n"].map(lambda n: f"{int(n):,}")
    for col in ("peak_rss_mb", "n_iter"):
        table[col] = table[col].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    cols = ["n", "backend", "status", "total_s", "extract_s", "fit_s", "n_iter", "s_per_iter",
            "x_floor", "predict_s", "peak_rss_mb", "wcss_vs_best", "purity"]  # fmt: skip
    cols = [c for c in cols if c in table.columns]
    per_iter = slopes(frame, "s_per_iter") if "s_per_iter" in frame.columns else {}
    extractor = ", ".join(sorted(frame["extractor"].astype(str).unique()))
    lines = [
        "# Scale benchmark",
        "",
        f"Extractor `{extractor}`, k=10, seed 0, `threads` = "
        f"{', '.join(map(str, sorted(frame['threads'].dropna().astype(int).unique())))}; "
        "each (N, backend) in a fresh process; seconds = extraction + fit + predict; "
        "peak RSS of that process (memory-mapped pages that were read count as resident). "
        f"Runs stopped at {timeout:.0f} s are marked `timeout`.",
        "",
        tabulate(table[cols], headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"),
        "",
        "`BACKEND@shared`: from the same k-means++ centres (seed 0) for a fixed number of Lloyd "
        "iterations without a tolerance: the same work for every library. `s_per_iter` = "
        "fit_s / n_iter (the k-means++ or k-means|| start included in fit_s of the own-start "
        "rows); `x_floor`: s_per_iter over one read of the features at the memory bandwidth "
        f"measured here ({BANDWIDTH_FILE}); `wcss_vs_best`: WCSS over the lowest at that N.",
        "",
        "Fitted slope of log(seconds) against log(N), finished runs only (1 = linear):",
        "",
        tabulate(
            [
                (b, f"{s:.2f}", f"{per_iter[b]:.2f}" if b in per_iter else "")
                for b, s in fitted.items()
            ],
            headers=["backend", "total seconds", "seconds per iteration"],
            tablefmt="github",
        ),
        "",
        "![seconds against N](scale.png)",
        "",
    ]
    (out / "REPORT.md").write_text("\n".join(lines))


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_bench.scale_bench", description=__doc__)
    parser.add_argument("--sizes", type=_ints, default=list(DEFAULT_SIZES))
    parser.add_argument("--backends", type=lambda t: t.split(","), default=list(DEFAULT_BACKENDS))
    parser.add_argument("--features", default="raw", help="one extractor (default raw)")
    parser.add_argument("--threads", type=int, default=2, help="threads / dask threads (2)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    parser.add_argument(
        "--iterations", type=int, default=25, help="Lloyd iterations from the shared start (25)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/scale"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--one", nargs=2, metavar=("N", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--render", action="store_true", help="only re-render OUT/REPORT.md")
    args = parser.parse_args(argv)
    try:  # an unknown plug-in name: one line and exit status 2, before any work
        _check_names(args.backends, args.features)
    except UserError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.cache_dir is None:
        from mnist_bench.core.cache import default_cache_dir

        args.cache_dir = default_cache_dir()
    if args.generate:
        from mnist_bench.data import scale

        scale.load_scale(args.generate, cache_dir=args.cache_dir, threads=args.threads)
        return 0
    if args.one:
        n, backend = int(args.one[0]), args.one[1]
        row = measure(n, backend, args.features, args.threads, args.cache_dir, args.iterations)
        print(json.dumps(row))
        return 0
    if args.render:
        render(pd.read_csv(args.out / "results.csv"), args.out, args.timeout)
        return 0
    run(args)
    print(f"wrote {args.out / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

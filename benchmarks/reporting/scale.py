"""The scale study's report: ``OUT/REPORT.md`` (the table, the fitted log-log slopes per backend)
and ``OUT/scale.png`` (seconds against N, log-log), drawn from ``OUT/results.csv``, its settings
(``scale.json``) and ``bandwidth.json``.

``mnist-bench scale`` renders it after measuring, ``scale --render`` and ``mnist-bench report OUT``
render it again from the folder alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from mnist_bench.core import plots
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_text
from mnist_bench.core.errors import UserError
from mnist_bench.grid import scale_config, scale_results

#: The report table's columns, in order (those the rows hold).
TABLE = (
    "n", "backend", "status", "total_s", "extract_s", "fit_s", "n_iter", "s_per_iter", "x_floor",
    "predict_s", "peak_rss_mb", "wcss_vs_best", "purity",
)  # fmt: skip
#: Statuses of the runs that were stopped, not finished (marked x in the plot).
STOPPED = ("timeout", "oom-killed")


def slopes(frame: pd.DataFrame, column: str = "total_s") -> dict[str, float]:
    """Per backend, the slope of log(``column``) against log(N) over finished runs."""
    fitted = {}
    for backend, group in frame[frame["status"] == "ok"].groupby("backend", sort=False):
        if group["n"].nunique() >= 2:
            x, y = (np.log(group[c].astype(float)) for c in ("n", column))
            slope, _ = np.polyfit(x, y, 1)
            fitted[str(backend)] = float(slope)
    return fitted


def relative_wcss(frame: pd.DataFrame) -> pd.Series:
    """Each finished row's WCSS over the lowest WCSS at its N, minus 1 (0 for the best)."""
    wcss = pd.to_numeric(frame.get("wcss"), errors="coerce")
    best = wcss.groupby(frame["n"]).transform("min")
    return wcss / best - 1


def render(out_dir: Path) -> Path:
    """Write ``OUT/REPORT.md`` and ``OUT/scale.png`` from the folder; return the report's path."""
    out_dir = Path(out_dir)
    frame = scale_results.as_frame(scale_results.read(out_dir))
    settings = scale_config.read_settings(out_dir)
    bandwidth = _bandwidth(out_dir / words.BANDWIDTH)
    fitted = slopes(frame)
    _plot(frame, fitted, out_dir / words.SCALE_PLOT)
    lines = [
        "# Scale benchmark",
        "",
        _context(frame, settings),
        "",
        tabulate(
            _table(frame, bandwidth),
            headers="keys",
            tablefmt="github",
            showindex=False,
            floatfmt=".3g",
        ),
        "",
        "`BACKEND@shared`: from the same k-means++ centres (seed 0) for a fixed number of Lloyd "
        "iterations without a tolerance: the same work for every library. `s_per_iter` = "
        "fit_s / n_iter (the k-means++ or k-means|| start included in fit_s of the own-start "
        "rows); `x_floor`: s_per_iter over one read of the features at the memory bandwidth "
        f"measured here ({words.BANDWIDTH}); `wcss_vs_best`: WCSS over the lowest at that N.",
        "",
        "Fitted slope of log(seconds) against log(N), finished runs only (1 = linear):",
        "",
        _slopes_table(fitted, slopes(frame, "s_per_iter")),
        "",
        f"![seconds against N]({words.SCALE_PLOT})",
        "",
    ]
    path = out_dir / words.REPORT
    write_text(path, "\n".join(lines))
    return path


def _bandwidth(path: Path) -> dict[str, Any] | None:
    """The measured bandwidth in ``path`` (None where the folder has none)."""
    if not path.is_file():
        return None
    try:
        bandwidth = json.loads(path.read_text(encoding="utf-8"))
        if float(bandwidth["bytes_per_s"]) > 0:
            return bandwidth
    except (OSError, ValueError, TypeError, KeyError):
        pass
    raise UserError(f"{path} does not hold a bandwidth in bytes_per_s: delete it to measure again")


def _context(frame: pd.DataFrame, settings: dict[str, Any] | None) -> str:
    """The paragraph under the title: what was measured, how, and where runs were stopped."""
    extractor = ", ".join(sorted(frame["extractor"].astype(str).unique()))
    threads = ", ".join(map(str, sorted(frame["threads"].dropna().astype(int).unique())))
    numerics = f", numerics `{settings['numerics']}`" if settings else ""
    stopped = f"at {settings['timeout']:.0f} s" if settings else "at the timeout"
    return (
        f"Extractor `{extractor}`, k=10, seed 0, `threads` = {threads}{numerics}; each "
        "(N, backend) in a fresh process; seconds = extraction + fit + predict; peak RSS of that "
        "process (memory-mapped pages that were read count as resident). "
        f"Runs stopped {stopped} are marked `timeout`."
    )


def _table(frame: pd.DataFrame, bandwidth: dict[str, Any] | None) -> pd.DataFrame:
    """The rows as the report shows them: N with thousands separators, the floor multiple."""
    table = frame.copy()
    if bandwidth is not None:
        floor_s = frame["feature_mb"] * 2**20 / bandwidth["bytes_per_s"]  # one read of X
        table["x_floor"] = (frame["s_per_iter"] / floor_s).map(_blank_or("{:.1f}"))
    table["wcss_vs_best"] = (100 * relative_wcss(frame)).map(_blank_or("{:+.3f}%"))
    table["n"] = table["n"].map(lambda n: f"{int(n):,}")
    for column in ("peak_rss_mb", "n_iter"):
        table[column] = table[column].map(_blank_or("{:.0f}"))
    return table[[c for c in TABLE if c in table.columns]]


def _blank_or(spec: str) -> Any:
    """A cell formatter: ``spec`` for a number, empty for a missing one."""
    return lambda value: "" if pd.isna(value) else spec.format(value)


def _slopes_table(total: dict[str, float], per_iter: dict[str, float]) -> str:
    rows = [
        (b, f"{s:.2f}", f"{per_iter[b]:.2f}" if b in per_iter else "") for b, s in total.items()
    ]
    return tabulate(
        rows, headers=["backend", "total seconds", "seconds per iteration"], tablefmt="github"
    )


def _plot(frame: pd.DataFrame, fitted: dict[str, float], path: Path) -> None:
    """Seconds against N per backend, log-log; runs stopped before the end marked x."""
    fig, ax = plots.pyplot().subplots(figsize=(6, 4.2))
    for backend, group in frame.groupby("backend", sort=False):
        ok = group[group["status"] == "ok"]
        label = f"{backend} (slope {fitted[backend]:.2f})" if backend in fitted else str(backend)
        (line,) = ax.plot(ok["n"].astype(float), ok["total_s"], "o-", label=label)
        capped = group[group["status"].isin(STOPPED)]
        if len(capped):
            ax.plot(capped["n"].astype(float), capped["total_s"], "x", color=line.get_color(),
                    markersize=9)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N images")
    ax.set_ylabel("extraction + fit + predict (s)")
    ax.set_title("scale benchmark, k=10 (x: stopped, not finished)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    plots.save(fig, path)

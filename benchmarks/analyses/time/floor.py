"""The physical floor under a k-means iteration: reading X once at the machine's memory bandwidth.

``environment.json`` records the bandwidth the run measured (``memory_bandwidth``, see
:func:`mnist_bench.grid.environment.memory_bandwidth`); ``results.csv`` records each row's time
per iteration (``s_per_iter`` = ``fit_s / n_iter``). A Lloyd iteration reads every point at
least once, n x d x 4 bytes of float32, so that over the bandwidth is the least an iteration
can take; the table gives each k-means cell's time per iteration as a multiple of it.
Results without ``s_per_iter`` (older runs) get no table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mnist_bench.core.tables import markdown_table
from mnist_bench.core.vocabulary import row_cell_label

#: Bytes per feature value (the suite's features are float32).
BYTES_PER_VALUE = 4


def bandwidth(env: dict[str, Any]) -> float | None:
    """The measured memory bandwidth (bytes per second) in ``environment.json``, if any."""
    value = (env.get("memory_bandwidth") or {}).get("bytes_per_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def floor_s(n_samples: int, feature_dim: int, bytes_per_s: float) -> float:
    """Seconds to read n x d float32 values once at ``bytes_per_s``."""
    return n_samples * feature_dim * BYTES_PER_VALUE / bytes_per_s


def kmeans_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The k-means rows (objective WCSS; every row of results without that column), less the
    cells of backends that do not iterate (Ward, spectral, HDBSCAN: one "iteration" each)."""
    if "objective" in frame:
        frame = frame[frame["objective"].fillna("wcss") == "wcss"]
    iterates = frame.groupby(["split", "extractor", "backend"], sort=False)["n_iter"].transform(
        "max"
    )
    return frame[iterates.fillna(2) > 1]


def bandwidth_line(env: dict[str, Any]) -> str:
    """One sentence on how the bandwidth was measured, or on its absence."""
    bw = bandwidth(env)
    if bw is None:
        return "This run's environment.json has no measured memory bandwidth, so no floor."
    info = env["memory_bandwidth"]
    threads = info.get("threads", "?")
    on = f"{threads} thread" + ("" if threads == 1 else "s")
    return (
        f"This machine reads memory at **{bw / 1e9:.1f} GB/s** (environment.json: numpy's "
        f"`max` over a {info.get('array_bytes', 0) / 2**20:.0f} MiB float32 array, the fastest "
        f"of {info.get('passes', '?')} passes on {on}). An "
        "iteration reads all of X at least once (n × d × 4 bytes): that over the bandwidth is "
        "the floor under its time."
    )


def section(frame: pd.DataFrame, env: dict[str, Any]) -> list[str]:
    """Each k-means cell at eval_k: time per iteration, the floor and its multiple."""
    if "s_per_iter" not in frame:
        return []
    evals = kmeans_rows(frame[frame["eval_k"].astype(bool)])
    evals = evals[evals["s_per_iter"].notna()]
    if evals.empty:
        return []
    bw = bandwidth(env)
    rows = []
    for (split, _, _), group in evals.groupby(["split", "extractor", "backend"], sort=False):
        first = group.iloc[0]
        n, d = int(first["n_samples"]), int(first["feature_dim"])
        per_iter = float(group["s_per_iter"].median())
        row = [
            row_cell_label(first),
            f"`{split}`",
            f"{n:,} × {d}",
            f"{n * d * BYTES_PER_VALUE / 1e6:.1f}",
            f"{group['n_iter'].median():.0f}",
            f"{per_iter * 1e3:.2f}",
        ]
        if bw is not None:
            floor = floor_s(n, d, bw)
            row += [f"{floor * 1e3:.3f}", f"{per_iter / floor:.0f}×"]
        rows.append(row)
    headers = ["cell", "split", "n × d", "X MB", "iterations", "ms / iteration"]
    if bw is not None:
        headers += ["floor ms", "× floor"]
    return [
        "## Time per iteration against the memory floor",
        "",
        bandwidth_line(env),
        "",
        "Per k-means cell at eval_k, the median over seeds of fit time / iterations (column "
        "`s_per_iter`; the fit's set-up and last assignment are spread over its iterations):",
        "",
        markdown_table(rows, headers),
        "",
    ]

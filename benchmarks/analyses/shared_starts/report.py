"""The report's "library against library from the same start" table.

Rows with ``init = "shared"`` (backend ``{backend}@shared``, see
:mod:`mnist_bench.analyses.shared_starts.starts`) ran every k-means backend from the same
k-means++ centres for the same number of Lloyd iterations. Per (split, extractor, k, seed): each
backend's iterations, fit time, time per iteration (and its multiple of the memory floor, which
the report passes in: :mod:`mnist_bench.analyses.time.floor`) and final WCSS relative to the best of
them. The rest of the report leaves these rows out (:func:`own_rows`); results without an
``init`` column have none.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from mnist_bench.core import vocabulary as words
from mnist_bench.core.tables import markdown_table


def is_shared(frame: pd.DataFrame) -> pd.Series:
    """Which rows ran from a shared start (none in results without an ``init`` column)."""
    if "init" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["init"].eq("shared")


def own_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows where each backend ran from its own start: the grid the report tabulates."""
    return frame[~is_shared(frame)]


def library(backend: str) -> str:
    """``"sklearn@shared"`` -> ``"sklearn"``."""
    return backend.removesuffix(words.SHARED_SUFFIX)


def section(frame: pd.DataFrame, floor_s: Callable[[int, int], float] | None) -> list[str]:
    """The comparison table, with the largest WCSS gap between libraries from one start.

    ``floor_s(n_samples, feature_dim)``: the memory floor under one iteration, in seconds (the
    run's measured bandwidth); None (none measured): no "× floor" column.
    """
    shared = frame[is_shared(frame)]
    if shared.empty:
        return []
    rows = []
    worst = (0.0, "")
    keys = ["split", "extractor", "k", "seed"]
    for (split, extractor, k, seed), group in shared.groupby(keys, sort=False):
        best = float(group["wcss"].min())
        for _, row in group.iterrows():
            gap = float(row["wcss"]) / best - 1.0
            if gap > worst[0]:
                worst = (gap, f"{extractor}, split `{split}`, k = {k}, seed {seed}")
            per_iter = float(row["s_per_iter"])
            cells = [
                extractor,
                f"`{split}`",
                int(k),
                int(seed),
                library(str(row["backend"])),
                int(row["n_iter"]),
                f"{row['fit_s']:.2f}",
                f"{per_iter * 1e3:.2f}",
            ]
            if floor_s is not None:
                floor = floor_s(int(row["n_samples"]), int(row["feature_dim"]))
                cells.append(f"{per_iter / floor:.0f}×")
            cells.append("best" if gap == 0.0 else f"+{gap:.1e}")
            rows.append(cells)
    headers = ["features", "split", "k", "seed", "backend", "iterations", "fit s"]
    times = ["ms / iteration", "× floor"] if floor_s is not None else ["ms / iteration"]
    headers += [*times, "WCSS / best − 1"]
    iterations = int(shared["n_iter"].max())
    gap_line = (
        f"Largest WCSS gap between libraries from one start: **{worst[0]:.1e}** relative "
        f"({worst[0]:.4%}; {worst[1]})."
        if worst[1]
        else "Every library ended at the same WCSS from every start."
    )
    return [
        "## Library against library from the same start",
        "",
        "k-means++ centres drawn once per (features, k, seed) by scikit-learn's "
        "`kmeans_plusplus` (seeded by the seed) and given to every backend, which runs "
        f"{iterations} Lloyd iterations from them with no tolerance (scikit-learn stops earlier "
        "only at a fixed point, where more iterations change nothing). The same algorithm from "
        "the same start ends at the same WCSS up to float rounding; what differs is the "
        "library's speed."
        + (" × floor: the time per iteration over the memory floor (above)." if floor_s else ""),
        "",
        markdown_table(rows, headers),
        "",
        gap_line,
        "",
    ]

"""A cell's headline figure: the start a user would keep without labels, and how far it can move.

A cell's rows at eval_k are starts of its backend, one per seed. Their mean is mostly the luck of
the starts on the well-separated 10-d embeddings (one k-means start merges two digits, the next
does not), and that luck is drawn again whenever the features' last bits change. The **headline**
is the row with the backend's best objective (lowest WCSS for k-means, highest log-likelihood for
a mixture): what a user without labels would keep, and what the summary and ``compare`` lead with.
It is not always the best row: on the UMAP embeddings the lowest-WCSS k-means start can be the
one that merges two digits, and the report says so where it happens (:func:`below_mean`).

:func:`stability` measures how far the headline can move: it draws ``r`` of a cell's seeds many
times and keeps the best-objective one each time (the headline a run with ``r`` seeds would
report), so a run with many seeds (``configs/stability.toml``) shows each cell's spread
against the cost of its starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_bench.core import vocabulary as words
from mnist_bench.core.tables import markdown_table, mean_std

#: Headlines drawn per cell and number of starts by :func:`stability`.
DRAWS = 2000
#: Said after a cell whose numbers were not pinned.
NOT_PINNED = " (not pinned)"


def objective_of(group: pd.DataFrame) -> tuple[pd.Series, str]:
    """The objective values of a cell's rows and whether ``min`` or ``max`` is best.

    The backend's objective (column ``objective``, value in ``objective_value``); results
    written before those columns existed fall back to WCSS (lower is better).
    """
    if "objective" in group and group["objective"].notna().all():
        return group["objective_value"], words.OBJECTIVES[str(group["objective"].iloc[0])]
    return group["wcss"], "min"


def chosen(group: pd.DataFrame) -> pd.Series:
    """The headline row: the start with the backend's best objective (the first row when no
    objective was recorded)."""
    values, direction = objective_of(group)
    values = values.dropna()
    if values.empty:
        return group.iloc[0]
    return group.loc[values.idxmin() if direction == "min" else values.idxmax()]


def below_mean(group: pd.DataFrame, metric: str = "acc", tolerance: float = 0.005) -> bool:
    """Whether the headline scores below the seeds' mean by more than ``tolerance``: the best
    objective is then not the best clustering (the report marks it)."""
    value = chosen(group)[metric]
    mean = group[metric].mean()
    return bool(pd.notna(value) and pd.notna(mean) and value < mean - tolerance)


def stability(
    group: pd.DataFrame,
    r: int,
    metric: str = "acc",
    tolerance: float = 0.005,
    draws: int = DRAWS,
    seed: int = 0,
) -> dict[str, float] | None:
    """How the headline of ``r`` starts spreads, from a cell's many seeds (None with < r + 1).

    Draws ``r`` distinct rows ``draws`` times (seeded), keeps the best-objective one each time
    and returns its ``metric``: ``p05``, ``median``, ``p95``, and ``moved``, the share of
    draws whose headline differs by more than ``tolerance`` from the headline of all rows.
    """
    values, direction = objective_of(group)
    keep = values.notna() & group[metric].notna()
    objective = values[keep].to_numpy(dtype=float)
    scores = group.loc[keep, metric].to_numpy(dtype=float)
    n = len(scores)
    if n <= r:
        return None
    if direction == "max":
        objective = -objective
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((draws, n)), axis=1)[:, :r]
    best = picks[np.arange(draws), np.argmin(objective[picks], axis=1)]
    heads = scores[best]
    overall = scores[int(np.argmin(objective))]
    return {
        "p05": float(np.quantile(heads, 0.05)),
        "median": float(np.median(heads)),
        "p95": float(np.quantile(heads, 0.95)),
        "moved": float(np.mean(np.abs(heads - overall) > tolerance)),
    }


def pinned_mark(group: pd.DataFrame) -> str:
    """`` (not pinned)`` after a cell whose numbers were not pinned (``pinned`` column False:
    native numerics, a CPU below the level, or unseeded features); nothing otherwise."""
    if "pinned" not in group:
        return ""
    values = group["pinned"].dropna()
    return NOT_PINNED if not values.empty and not values.astype(bool).all() else ""


def pinned_note(evals: pd.DataFrame, env: dict) -> str | None:
    """What the report says under the grid tables of which numbers are pinned, and why not."""
    if "pinned" not in evals or evals["pinned"].isna().all():
        return None
    numerics = env.get("numerics") or {}
    level = numerics.get("level") or "pinned"
    if evals["pinned"].fillna(False).astype(bool).all():
        return (
            f"Every row was computed with portable numerics ({level} kernels): the same numbers "
            "on any x86-64 machine at the same thread count."
        )
    why = numerics.get("unpinned_because")
    if why:
        return f"Cells marked{NOT_PINNED} may give other numbers on another kind of CPU: {why}."
    reasons = {}
    for extractor, reason in (numerics.get("unpinned_extractors") or {}).items():
        reasons.setdefault(reason, []).append(extractor)
    unseeded = sorted(set(evals.loc[~evals["deterministic"].astype(bool), "extractor"]))
    if unseeded:
        reasons["their features are unseeded and change from run to run"] = unseeded
    said = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
    return (
        f"The other rows were computed with portable numerics ({level} kernels): the same "
        "numbers on any x86-64 machine at the same thread count. Cells marked"
        f"{NOT_PINNED} may give other numbers on another kind of CPU"
        + (f" ({said})" if said else "")
        + "; `mnist-bench compare` judges them by their headline against the seeds' spread."
    )


def summary_table(evals: pd.DataFrame) -> str:
    """The best label-free cell, then the best supervised one, by their headline accuracy.

    Each with its headline (the best-objective start: acc / NMI / macro purity), then the mean ±
    std over seeds and their range, so a headline below the seeds' typical start shows.
    """
    rows = []
    cells = [g for _, g in evals.groupby(["extractor", "backend"], sort=False)]
    for supervised, kind in ((False, "label-free"), (True, "supervised")):
        mine = [g for g in cells if bool(g["supervised"].iloc[0]) == supervised]
        if not mine:
            continue
        best = max(mine, key=lambda g: _or_lowest(chosen(g)["acc"]))
        pick = chosen(best)
        rows.append(
            [
                f"best {kind}",
                words.row_cell_label(best.iloc[0]) + pinned_mark(best),
                f"{pick['acc']:.3f} / {pick['nmi']:.3f} / {pick['macro_purity']:.3f} "
                f"(seed {int(pick['seed'])})" + (" ▼" if below_mean(best) else ""),
                f"{mean_std(best['acc'])} ({best['acc'].min():.3f}–{best['acc'].max():.3f})",
                mean_std(best["nmi"]),
                mean_std(best["macro_purity"]),
            ]
        )
    headers = [
        "",
        "cell",
        "headline: acc / NMI / macro purity",
        "acc over seeds (range)",
        "NMI",
        "macro purity",
    ]
    return markdown_table(rows, headers)


def _or_lowest(value: float) -> float:
    return -2.0 if pd.isna(value) else float(value)


#: Starts per headline that :func:`stability_section` shows (the default grid has 3 seeds).
STABILITY_STARTS = (1, 3, 10)


def stability_section(evals: pd.DataFrame, tolerance: float = 0.005) -> list[str]:
    """How far each cell's headline can move, when the run has enough seeds to tell (at least
    one more than the largest count of :data:`STABILITY_STARTS`)."""
    need = max(STABILITY_STARTS) + 1
    rows = []
    for (split, _, _), group in evals.groupby(["split", "extractor", "backend"], sort=False):
        if group["seed"].nunique() < need:
            continue
        row = [words.row_cell_label(group.iloc[0]), split, str(len(group))]
        for r in STABILITY_STARTS:
            s = stability(group, r, tolerance=tolerance)
            assert s is not None
            row.append(
                f"{s['median']:.3f} [{s['p05']:.3f}, {s['p95']:.3f}] {100 * s['moved']:.0f}%"
            )
        row.append(f"{group['fit_s'].median():.2f}")
        rows.append(row)
    if not rows:
        return []
    return [
        "## How far a headline can move",
        "",
        f"The headline of r starts (the best-objective one of r seeds, as a run with r seeds "
        f"reports it), drawn {DRAWS:,} times from this run's seeds: its median accuracy, "
        f"[5th, 95th percentile], and the share of draws that move it more than {tolerance:g} "
        "from the headline of all the seeds. A start costs the fit time beside it.",
        "",
        markdown_table(
            rows,
            [
                "cell",
                "split",
                "seeds",
                *(f"acc, headline of {r}" for r in STABILITY_STARTS),
                "fit s per start",
            ],
        ),
        "",
    ]

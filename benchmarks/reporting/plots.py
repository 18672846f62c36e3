"""Plots derived from result rows (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from mnist_bench.core.atomic import write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _figure().close(fig)
    write_bytes(path, buf.getvalue())


def elbow(curves: pd.DataFrame, knees: dict[str, int | None], path: Path, title: str) -> None:
    """One line per cell: WCSS / WCSS(k=1) against k, the knee marked. ``curves``: k x cell."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for cell in curves.columns:
        series = curves[cell].dropna()
        norm = series / series.iloc[0]
        (line,) = ax.plot(norm.index, norm.values, marker="o", markersize=3, label=cell)
        knee = knees.get(cell)
        if knee is not None and knee in norm.index:
            ax.plot(
                [knee],
                [norm.loc[knee]],
                marker="s",
                markersize=9,
                color=line.get_color(),
                markerfacecolor="none",
            )
    ax.plot(
        [],
        [],
        marker="s",
        markersize=9,
        color="grey",
        markerfacecolor="none",
        linestyle="none",
        label="knee (kneed)",
    )
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel("WCSS / WCSS at k=1")
    ax.set_title(title)
    ax.set_xticks(list(curves.index))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save(fig, path)

"""The report's "accuracy against time" section: one point per cell at its headline start,
Hungarian accuracy and ARI against total seconds (log scale), label-free and supervised cells
told apart, the Pareto front drawn and tabled.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mnist_bench.analyses.pareto.front import on_front, total_seconds
from mnist_bench.core import plots
from mnist_bench.core import vocabulary as words
from mnist_bench.core.tables import markdown_table

TITLE = "## Accuracy against time"
#: The scores drawn, one panel each.
PANELS = ("acc", "ari")


def section(cells: pd.DataFrame, out_dir: Path, split: str) -> list[str]:
    """The section's lines for the headline rows ``cells`` (one per cell) of ``split``."""
    if len(cells) < 2:
        return []
    cells = cells.assign(
        total_s=total_seconds(cells), label=cells.apply(words.row_cell_label, axis=1)
    )
    fronts = {score: on_front(cells[score], cells["total_s"]) for score in PANELS}
    name = words.pareto_file(split)
    plot(cells, fronts, out_dir / name, f"split {split}: every cell at its headline start")
    front = cells[fronts["acc"]].sort_values("total_s")
    rows = [
        [
            row["label"],
            "supervised" if row["supervised"] else "label-free",
            f"{row['acc']:.3f}",
            f"{row['ari']:.3f}",
            "yes" if fronts["ari"][index] else "no",
            f"{row['total_s'] - row['fit_s'] - row['predict_s']:.1f}",
            f"{row['fit_s'] + row['predict_s']:.2f}",
            f"{row['total_s']:.1f}",
        ]
        for index, row in front.iterrows()
    ]
    headers = ["cell", "kind", "acc", "ARI", "on the ARI front", "features s", "fit s", "total s"]
    return [
        TITLE,
        "",
        f"Every cell of split `{split}` at its headline start: Hungarian accuracy and ARI against "
        "the total seconds its labels cost (the features, a supervised extractor's training "
        "included, then the backend's fit and predict; features read from the cache count the "
        "seconds they took when made). Circles are label-free cells, triangles supervised "
        "ones; the line joins the Pareto front, the cells no other beats on both counts. The "
        "front by accuracy:",
        "",
        markdown_table(rows, headers),
        "",
        f"![accuracy against time]({name})",
        "",
    ]


def plot(cells: pd.DataFrame, fronts: dict[str, pd.Series], path: Path, title: str) -> None:
    """The two panels of :func:`section` (kept in the picture cache while one is given)."""
    data = cells[[*PANELS, "total_s"]].to_numpy(dtype=float)
    plots.cached(
        path,
        plots.kept(),
        lambda out: draw(cells, fronts, out, title),
        kind="pareto",
        code=plots.code_version(__file__),
        data=plots.fingerprint(data, cells["supervised"].to_numpy(dtype=bool)),
        labels=list(cells["label"]),
        title=title,
    )


def draw(cells: pd.DataFrame, fronts: dict[str, pd.Series], path: Path, title: str) -> None:
    """Draw the picture of :func:`plot` (no cache)."""
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 4.8), sharex=True)
    for ax, score in zip(axes, PANELS, strict=True):
        for supervised, marker in ((False, "o"), (True, "^")):
            kind = cells[cells["supervised"].astype(bool) == supervised]
            ax.scatter(kind["total_s"], kind[score], marker=marker, s=28, alpha=0.7,
                       label="supervised" if supervised else "label-free")  # fmt: skip
        front = cells[fronts[score]].sort_values("total_s")
        ax.step(front["total_s"], front[score], where="post", color="black", linewidth=1,
                label="Pareto front")  # fmt: skip
        for _, row in front.iterrows():
            ax.annotate(row["label"], (row["total_s"], row[score]), fontsize=7,
                        xytext=(3, -9), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("total seconds (features + fit + predict)")
        ax.set_ylabel(words.METRIC_HEADERS[score])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    plots.save(fig, path)

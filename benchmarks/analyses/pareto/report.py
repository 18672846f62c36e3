"""The report's "accuracy against time" section: one point per cell at its headline start,
Hungarian accuracy and ARI against total seconds (log scale), label-free and supervised cells
told apart, the label-free Pareto front drawn and tabled (and the front of all cells drawn).
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
#: The columns (after a score's name) that say whether a cell is on the label-free front, and
#: on the front of all cells.
FREE, ALL = "_front", "_front_all"


def section(cells: pd.DataFrame, out_dir: Path, split: str) -> list[str]:
    """The section's lines for the headline rows ``cells`` (one per cell) of ``split``."""
    if len(cells) < 2:
        return []
    cells = cells.assign(
        total_s=total_seconds(cells), label=cells.apply(words.row_cell_label, axis=1)
    )
    free = ~cells["supervised"].astype(bool)
    for score in PANELS:  # each cell's place on the label-free front and on that of all cells
        cells[f"{score}{FREE}"] = on_front(cells[score].where(free), cells["total_s"])
        cells[f"{score}{ALL}"] = on_front(cells[score], cells["total_s"])
    name = words.pareto_file(split)
    plot(cells, out_dir / name, f"split {split}: every cell at its headline start")
    front = cells[cells[f"acc{FREE}"]].sort_values("total_s")
    rows = [
        [
            row["label"],
            f"{row['acc']:.3f}",
            f"{row['ari']:.3f}",
            "yes" if row[f"ari{FREE}"] else "no",
            f"{row['total_s'] - row['fit_s'] - row['predict_s']:.1f}",
            f"{row['fit_s'] + row['predict_s']:.2f}",
            f"{row['total_s']:.1f}",
        ]
        for _, row in front.iterrows()
    ]
    headers = ["cell", "acc", "ARI", "on the ARI front", "features s", "fit s", "total s"]
    beaten = [
        f"{row['label']}: {row['acc']:.3f} in {row['total_s']:.0f} s"
        for _, row in cells[cells[f"acc{ALL}"] & ~free].sort_values("total_s").iterrows()
    ]
    said = (
        " With labels, these are on the front of all cells (dotted): " + "; ".join(beaten) + "."
        if beaten
        else ""
    )
    return [
        TITLE,
        "",
        f"Every cell of split `{split}` at its headline start: Hungarian accuracy and ARI against "
        "the total seconds its labels cost (the features, a supervised extractor's training "
        "included, then the backend's fit and predict; features read from the cache count the "
        "seconds they took when made). Circles are label-free cells, triangles supervised "
        "ones. The solid line joins the label-free Pareto front: the label-free cells no other "
        f"label-free cell beats on both counts, tabled here by accuracy.{said}",
        "",
        markdown_table(rows, headers),
        "",
        f"![accuracy against time]({name})",
        "",
    ]


def plot(cells: pd.DataFrame, path: Path, title: str) -> None:
    """The two panels of :func:`section` (kept in the picture cache while one is given)."""
    data = cells[[*PANELS, "total_s"]].to_numpy(dtype=float)
    marks = [cells[f"{s}{end}"].to_numpy(dtype=bool) for s in PANELS for end in (FREE, ALL)]
    plots.cached(
        path,
        plots.kept(),
        lambda out: draw(cells, out, title),
        kind="pareto",
        code=plots.code_version(__file__),
        data=plots.fingerprint(data, cells["supervised"].to_numpy(dtype=bool), *marks),
        labels=list(cells["label"]),
        title=title,
    )


def draw(cells: pd.DataFrame, path: Path, title: str) -> None:
    """Draw the picture of :func:`plot` (no cache)."""
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 5.2), sharex=True)
    for ax, score in zip(axes, PANELS, strict=True):
        for supervised, marker in ((False, "o"), (True, "^")):
            kind = cells[cells["supervised"].astype(bool) == supervised]
            ax.scatter(kind["total_s"], kind[score], marker=marker, s=30, alpha=0.75,
                       label="supervised" if supervised else "label-free")  # fmt: skip
        for end, style, what in ((ALL, ":", "front of all cells"),
                                 (FREE, "-", "label-free front")):  # fmt: skip
            front = cells[cells[f"{score}{end}"]].sort_values("total_s")
            ax.step(front["total_s"], front[score], where="post", linestyle=style,
                    color="black", linewidth=1, label=what)  # fmt: skip
        front = cells[cells[f"{score}{FREE}"]].sort_values("total_s")
        for i, (_, row) in enumerate(front.iterrows()):
            short = f"{row['extractor']} × {row['backend']}"
            ax.annotate(short, (row["total_s"], row[score]), fontsize=7,
                        xytext=(4, -10 if i % 2 else 5), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("total seconds (features + fit + predict)")
        ax.set_ylabel(words.METRIC_HEADERS[score])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    plots.save(fig, path)

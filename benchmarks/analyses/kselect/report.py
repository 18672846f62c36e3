"""The report's k-selection sections: the elbow, then "choosing k without labels" and dendrograms.

The elbow (:func:`elbow_section`): per split, each cell's WCSS by k on the sweep's first seed,
the knee of each curve (:mod:`mnist_bench.analyses.kselect.elbow`) and one plot of the curves
(kept in the cache while :func:`mnist_bench.core.plots.kept_in` says where).

Choosing k without labels (:func:`section`): for every cell's k sweep (its first seed), read from
``results.csv``: the knee of the WCSS curve (``kneed``, as in the elbow section), the k with the
highest silhouette, the highest Calinski-Harabasz, the lowest Davies-Bouldin (the three computed
by the runner on one seeded sample of each features,
:mod:`mnist_bench.analyses.kselect.sample`) and, for a mixture model, the lowest BIC (on all
points). A table gives the picks per cell, with 10 (the number of digits) in
bold; a plot per split shows the curves. Results without those columns (older runs) get none of
this.

Dendrograms: the runner keeps the Ward linkage of a seeded sample of each extractor's features
(``OUT/dendrograms/*.npz``); one picture per extractor is drawn from it (when missing or older
than the linkage) and linked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_bench.analyses.kselect.elbow import KNEE_METHOD, knee
from mnist_bench.analyses.kselect.sample import LINKAGE_SIZE, SAMPLE_SIZE
from mnist_bench.core import plots
from mnist_bench.core import vocabulary as words
from mnist_bench.core.own_files import UNREADABLE
from mnist_bench.core.tables import markdown_table

log = logging.getLogger(__name__)

#: The number of classes (digits) of MNIST and of scikit-learn's digits: the k to find.
TRUE_K = 10
#: The methods, in table order: the elbow's knee, then the scores.
METHODS: tuple[str, ...] = ("knee", *words.K_SCORES)
HEADERS = {"knee": "elbow knee", **words.K_SCORE_HEADERS}
#: Leaves of a drawn dendrogram (the last merges; each leaf is a group of images).
LEAVES = 30
#: The largest class label a linkage file's sample may hold (the datasets' labels are 0 .. 9).
MAX_DIGIT = 255


def elbow_section(frame: pd.DataFrame, out_dir: Path, eval_k: int, seeds: list[int]) -> list[str]:
    """The elbow: which seeds the k sweep ran on, then each split's curves, knees and plot."""
    every_seed = frame[frame.in_sweep].seed.nunique() > 1
    lines = [
        "## Elbow",
        "",
        f"The k sweep runs on seed {seeds[0]} only"
        + (" (and every seed)" if every_seed else "")
        + f"; k = {eval_k} runs on every seed.",
        "",
    ]
    for split in dict.fromkeys(frame.split):
        lines += split_elbow(frame, out_dir, split)
    return lines


def split_elbow(frame: pd.DataFrame, out_dir: Path, split: str) -> list[str]:
    """WCSS by k per cell, the knee of each curve and the elbow plot, for one split."""
    sweep = frame[frame.in_sweep & (frame.split == split)]
    if sweep.empty or sweep["k"].nunique() < 2:
        return []
    seed = int(sweep["seed"].min())
    sweep = sweep[sweep.seed == seed]
    curves = sweep.assign(cell=sweep.apply(words.row_cell_label, axis=1)).pivot_table(
        index="k", columns="cell", values="wcss", sort=False
    )
    knees = {cell: knee(list(curves.index), list(curves[cell].values)) for cell in curves.columns}
    png = words.elbow_file(split)
    title = f"Elbow: WCSS by k ({frame.dataset.iloc[0]}, split {split}, seed {seed})"
    plot_elbow(curves, knees, words.inside(out_dir, png), title)
    table = [[k, *[f"{curves.loc[k, c]:.4g}" for c in curves.columns]] for k in curves.index]
    knee_rows = [[c, "–" if knees[c] is None else knees[c]] for c in curves.columns]
    return [
        f"### Elbow, split `{split}`",
        "",
        f"WCSS (computed by the suite on all {int(sweep.n_samples.iloc[0]):,} points from each "
        f"backend's centres) for k = {curves.index.min()}..{curves.index.max()}, seed {seed}. "
        f"Each curve in the plot is divided by its value at k = {curves.index.min()}.",
        "",
        f"![elbow plot, split {split}]({png})",
        "",
        f"Knee of each curve, found by `{KNEE_METHOD}`:",
        "",
        markdown_table(knee_rows, ["cell", "knee k"]),
        "",
        "<details><summary>WCSS by k</summary>",
        "",
        markdown_table(table, ["k", *curves.columns]),
        "",
        "</details>",
        "",
    ]


def plot_elbow(curves: pd.DataFrame, knees: dict[str, int | None], path: Path, title: str) -> None:
    """One line per cell: WCSS / WCSS(k=1) against k, the knee marked. ``curves``: k x cell.

    Kept in the cache of :func:`mnist_bench.core.plots.kept_in` while one is given.
    """
    plots.cached(
        path,
        plots.kept(),
        lambda out: draw_elbow(curves, knees, out, title),
        kind="elbow",
        code=plots.code_version(__file__),
        data=plots.fingerprint(curves.to_numpy(dtype=float), curves.index.to_numpy(dtype=float)),
        cells=[str(c) for c in curves.columns],
        knees={str(c): k for c, k in knees.items()},
        title=title,
    )


def draw_elbow(curves: pd.DataFrame, knees: dict[str, int | None], path: Path, title: str) -> None:
    """Draw the elbow plot of :func:`plot_elbow` (no cache)."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for cell in curves.columns:
        series = curves[cell].dropna()
        norm = series / series.iloc[0]
        (line,) = ax.plot(norm.index, norm.values, marker="o", markersize=3, label=cell)
        knee_k = knees.get(cell)
        if knee_k is not None and knee_k in norm.index:
            ax.plot(
                [knee_k],
                [norm.loc[knee_k]],
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
    plots.save(fig, path)


def has_scores(frame: pd.DataFrame) -> bool:
    """Whether the results hold k-selection scores (runs before them do not: their columns are
    missing, or empty as the results schema fills them)."""
    scores = list(words.K_SCORES)
    return all(s in frame for s in scores) and bool(frame[scores].notna().any().any())


def sweep_of(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """The sweep rows of ``split`` on its first sweep seed."""
    sweep = frame[frame["in_sweep"].astype(bool) & (frame["split"] == split)]
    return sweep[sweep["seed"] == sweep["seed"].min()] if not sweep.empty else sweep


def picks(group: pd.DataFrame) -> dict[str, int | None]:
    """The k each method picks from one cell's sweep rows (None: it picks none)."""
    group = group.sort_values("k")
    chosen: dict[str, int | None] = {"knee": knee(list(group["k"]), list(group["wcss"]))}
    for score in words.K_SCORES:
        values = group[score].dropna()
        if values.empty:
            chosen[score] = None
            continue
        at = values.idxmax() if words.K_SCORE_DIRECTIONS[score] == "max" else values.idxmin()
        chosen[score] = int(group.loc[at, "k"])
    return chosen


def _cell(k: int | None) -> str:
    if k is None:
        return "–"
    return f"**{k}**" if k == TRUE_K else str(k)


def section(frame: pd.DataFrame, out_dir: Path) -> list[str]:
    """The picks table and the curves of each split, then the dendrograms."""
    if not has_scores(frame):
        return []
    lines: list[str] = []
    for split in dict.fromkeys(frame["split"]):
        sweep = sweep_of(frame, split)
        if sweep.empty or sweep["k"].nunique() < 3:
            continue
        rows, chosen = [], {}
        for _, group in sweep.groupby(["extractor", "backend"], sort=False):
            label = words.row_cell_label(group.iloc[0])
            chosen[label] = picks(group)
            found = [k for k in chosen[label].values() if k is not None]
            hits = sum(k == TRUE_K for k in found)
            rows.append(
                [label, *(_cell(chosen[label][m]) for m in METHODS), f"{hits}/{len(found)}"]
            )
        png = words.kselect_file(split)
        title = f"Choosing k ({frame['dataset'].iloc[0]}, split {split}, seed {sweep.seed.min()})"
        plot_scores(sweep, chosen, out_dir / png, title)
        n = int(sweep["n_samples"].iloc[0])
        lines += [
            f"### Split `{split}`",
            "",
            f"k = {sweep.k.min()}..{sweep.k.max()}, seed {sweep.seed.min()}. Silhouette, "
            "Calinski-Harabasz and Davies-Bouldin are computed on the same seeded sample of "
            f"{min(n, SAMPLE_SIZE):,} of the {n:,} points of each cell's features (the "
            "silhouette from the sample's pairwise distances, computed once per features and "
            "reused for every backend and k); BIC (mixture models only) on all points. The knee "
            f"is `{KNEE_METHOD}` on the WCSS curve. **{TRUE_K}**: the number of digits.",
            "",
            markdown_table(rows, ["cell", *(HEADERS[m] for m in METHODS), f"picks of {TRUE_K}"]),
            "",
            f"![k-selection scores by k, split {split}]({png})",
            "",
        ]
    if not lines:
        return []
    return [
        "## Choosing k without labels",
        "",
        "The k each method picks from a cell's k sweep: the knee of the elbow, the highest "
        "silhouette, the highest Calinski-Harabasz, the lowest Davies-Bouldin and, for a "
        "mixture model, the lowest BIC.",
        "",
        *lines,
        *dendrogram_section(frame, out_dir),
    ]


def plot_scores(
    sweep: pd.DataFrame, chosen: dict[str, dict[str, int | None]], path: Path, title: str
) -> None:
    """One panel per score with values: a line per cell against k, its pick marked.

    Calinski-Harabasz is divided by each curve's maximum and BIC scaled to 0..1 per curve (their
    scales differ by orders of magnitude between features).
    """
    scores = [s for s in words.K_SCORES if sweep[s].notna().any()]
    plt = plots.pyplot()
    cols = 2 if len(scores) > 2 else len(scores)
    rows = -(-len(scores) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.6 * rows), squeeze=False)
    # one colour per cell in every panel (a cell without BIC leaves its colour unused there)
    colours = {label: f"C{i % 10}" for i, label in enumerate(chosen)}
    for ax, score in zip(axes.ravel(), scores, strict=False):
        for _, group in sweep.groupby(["extractor", "backend"], sort=False):
            label = words.row_cell_label(group.iloc[0])
            curve = group.set_index("k")[score].sort_index().dropna()
            if curve.empty:
                continue
            if score == "calinski_harabasz":
                curve = curve / curve.max()
            elif score == "bic":
                span = curve.max() - curve.min()
                curve = (curve - curve.min()) / (span if span > 0 else 1.0)
            (line,) = ax.plot(
                curve.index, curve.values, "o-", markersize=3, label=label, color=colours[label]
            )
            k = chosen[label][score]
            if k is not None and k in curve.index:
                ax.plot(
                    [k],
                    [curve.loc[k]],
                    marker="s",
                    markersize=9,
                    color=line.get_color(),
                    markerfacecolor="none",
                )
        better = "higher" if words.K_SCORE_DIRECTIONS[score] == "max" else "lower"
        scale = {"calinski_harabasz": " / max", "bic": ", scaled 0..1"}.get(score, "")
        ax.set_title(f"{words.K_SCORE_HEADERS[score]}{scale} ({better} is better)", fontsize=9)
        ax.axvline(TRUE_K, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("k")
        ax.set_xticks(sorted(sweep["k"].unique()))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(scores) :]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()  # silhouette: every cell
    fig.legend(handles, labels, fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"{title}; squares: each curve's pick; dotted: k = {TRUE_K}", y=1.0, fontsize=10)
    fig.tight_layout()
    plots.save(fig, path)


def dendrogram_section(frame: pd.DataFrame, out_dir: Path) -> list[str]:
    """Links to the dendrogram of each extractor whose linkage the runner kept."""
    links = []
    for split, extractor in dict.fromkeys(zip(frame["split"], frame["extractor"], strict=True)):
        source = words.inside(out_dir, words.linkage_file(split, extractor))
        picture = words.inside(out_dir, words.dendrogram_file(split, extractor))
        if not source.is_file():
            continue
        if plots.stale(source, picture):
            try:
                draw_dendrogram(source, picture, f"{extractor}, split {split}")
            except UNREADABLE as exc:
                log.warning("no dendrogram for %s, split %s: %s", extractor, split, exc)
        if picture.is_file():
            links.append(f"[{extractor}]({words.dendrogram_file(split, extractor)}) (`{split}`)")
    if not links:
        return []
    return [
        "### Dendrograms",
        "",
        f"Ward's linkage (scipy) of a seeded sample of {LINKAGE_SIZE:,} images per extractor, "
        f"its last {LEAVES} merges drawn; each leaf is labelled with its commonest digit, that "
        f"digit's share and the leaf's size, and the dashed line cuts the tree into {TRUE_K} "
        "clusters: " + ", ".join(links) + ".",
        "",
    ]


def draw_dendrogram(source: Path, path: Path, what: str) -> None:
    """The dendrogram of the linkage in ``source`` (``linkage``, ``labels`` of the sample)."""
    from scipy.cluster.hierarchy import dendrogram, to_tree

    with np.load(source, allow_pickle=False) as data:
        Z, digits = np.asarray(data["linkage"], dtype=np.float64), np.asarray(data["labels"])
    # a run folder may come from anywhere: the tree is checked by scipy, the digits here
    if Z.ndim != 2 or not np.isfinite(Z).all():
        raise ValueError(f"{source.name} is damaged: its linkage is not a finite table")
    if not (np.issubdtype(digits.dtype, np.integer) and digits.shape == (len(Z) + 1,)):
        raise ValueError(f"{source.name} is damaged: its labels do not match its linkage")
    if len(digits) and (digits.min() < 0 or digits.max() > MAX_DIGIT):
        raise ValueError(f"{source.name} is damaged: a label outside 0 .. {MAX_DIGIT}")
    digits = digits.astype(np.int64)
    _, nodes = to_tree(Z, rd=True)

    def leaf_label(node: int) -> str:
        members = nodes[node].pre_order()
        counts = np.bincount(digits[members])
        top = int(counts.argmax())
        return f"{top}  {counts[top] / len(members):.0%} ({len(members)})"

    n = len(Z) + 1
    cut = float((Z[-TRUE_K, 2] + Z[-TRUE_K + 1, 2]) / 2) if n > TRUE_K else None
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(8.8, 4.8))
    dendrogram(
        Z,
        truncate_mode="lastp",
        p=LEAVES,
        leaf_label_func=leaf_label,
        leaf_rotation=90,
        leaf_font_size=8,
        color_threshold=cut if cut is not None else 0,
        above_threshold_color="black",
        ax=ax,
    )
    if cut is not None:
        ax.axhline(cut, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"{TRUE_K} clusters",
            (1.0, cut),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("Ward merge distance")
    ax.set_title(f"Ward dendrogram: {what} ({n:,} sampled images, seeded)", fontsize=10)
    plots.save(fig, path)

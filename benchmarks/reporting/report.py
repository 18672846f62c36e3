"""The markdown report: every table and plot is derived from ``results.csv`` (plus the run's
``environment.json`` and, when ``tox -e bench`` made one, pytest-benchmark's ``benchmark.json``).

It opens with a one-screen summary (best cell per metric, the grid at eval_k as mean ± std
over seeds), then the details: cluster montages and confusion heatmaps (drawn by
:mod:`mnist_bench.reporting.visuals` from the run's ``labels/`` and the dataset, and only linked
when they can be drawn), elbow and k selection (:mod:`mnist_bench.analyses.kselect.report`),
runtime, the seed blog's figures and the run environment.

``mnist-bench report DIR`` calls :func:`render`, so a report can be re-rendered at any time; it
redraws missing montages and heatmaps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_bench.analyses.kselect import report as kselect_report
from mnist_bench.analyses.pareto import report as pareto_report
from mnist_bench.analyses.shared_starts import report as shared_starts_report
from mnist_bench.analyses.time import benchmark as timings
from mnist_bench.analyses.time import floor, timeshare
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_text
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.tables import markdown_table, mean_std
from mnist_bench.core.vocabulary import METRICS, row_cell_label
from mnist_bench.grid import environment
from mnist_bench.grid.results import read_results
from mnist_bench.reporting import headline, kfree, maps, visuals
from mnist_bench.reporting.literature import LABEL_FREE, SEED_BLOG


def grid_table(evals: pd.DataFrame) -> str:
    """Extractor x backend at eval_k: the headline (best-objective start), then each metric as
    mean ± std over seeds, and the median fit time."""
    rows = []
    for (_, _), group in evals.groupby(["extractor", "backend"], sort=False):
        first = group.iloc[0]
        pick = headline.chosen(group)
        rows.append(
            [
                row_cell_label(first)
                + headline.pinned_mark(group)
                + (f" ({kfree.label(first)})" if not kfree.rows_of(group).empty else ""),
                int(first["feature_dim"]),
                len(group),
                f"{pick['acc']:.3f} / {pick['macro_purity']:.3f} (seed {int(pick['seed'])})"
                + (" ▼" if headline.below_mean(group) else ""),
                *[mean_std(group[m]) for m in METRICS],
                f"{group['fit_s'].median():.2f}",
            ]
        )
    headers = [
        "cell",
        "dim",
        "seeds",
        "headline: acc / macro purity",
        *words.METRIC_HEADERS.values(),
        "fit s (median)",
    ]
    return markdown_table(rows, headers)


def best_cells(evals: pd.DataFrame) -> str:
    """The best cell for each metric (highest mean over seeds)."""
    means = evals.groupby(["extractor", "backend"], sort=False)[list(METRICS)].mean()
    rows = []
    for metric in METRICS:
        if means[metric].isna().all():  # a results file without this score
            rows.append([metric, "–", "–"])
            continue
        ext, backend = means[metric].idxmax()
        sup = bool(evals[(evals.extractor == ext)]["supervised"].iloc[0])
        rows.append(
            [
                metric,
                words.cell_label(ext, backend, sup),
                f"{means.loc[(ext, backend), metric]:.3f}",
            ]
        )
    return markdown_table(rows, ["metric", "best cell", "mean"])


def _by_cell(evals: pd.DataFrame) -> list[pd.DataFrame]:
    return [g for _, g in evals.groupby(["extractor", "backend"], sort=False)]


def label_free_section(evals_all: pd.DataFrame) -> list[str]:
    """Our label-free cells beside the published label-free figures on MNIST."""
    ours = [g for g in _by_cell(evals_all) if not bool(g["supervised"].iloc[0])]
    if not ours:
        return []
    rows = []
    for group in sorted(ours, key=lambda g: -g["acc"].mean()):
        pick = headline.chosen(group)
        rows.append(
            [
                row_cell_label(group.iloc[0]),
                mean_std(group["acc"]),
                f"{pick['acc']:.3f} (seed {int(pick['seed'])})",
                mean_std(group["nmi"]),
                mean_std(group["ari"]),
            ]
        )
    published = [[method, acc, source] for method, acc, source in LABEL_FREE]
    return [
        "## Label-free clustering: ours beside the published figures",
        "",
        "Published (MNIST, 70,000 images, k = 10, Hungarian accuracy unless said otherwise):",
        "",
        markdown_table(published, ["method", "ACC", "source"]),
        "",
        f"Ours, split `all` ({int(evals_all.n_samples.iloc[0]):,} images): mean ± std over seeds, "
        "and the seed a user would pick without labels (the backend's best objective: lowest "
        "WCSS, or highest log-likelihood for a mixture):",
        "",
        markdown_table(rows, ["cell", "acc (Hungarian)", "acc, best-objective seed", "NMI", "ARI"]),
        "",
    ]


def runtime_section(frame: pd.DataFrame) -> list[str]:
    """Extraction time per extractor and fit time per cell, at eval_k and over the sweep."""
    ext_rows = []
    for ext, group in frame.groupby("extractor", sort=False):
        first = group.iloc[0]
        fit_s, acc = first["extractor_fit_s"], first["extractor_test_acc"]
        ext_rows.append(
            [
                ext + (words.SUPERVISED_MARK if bool(first.supervised) else ""),
                f"{first.extract_s:.2f}",
                "–" if pd.isna(fit_s) else f"{fit_s:.1f}",
                "–" if pd.isna(acc) else f"{acc:.4f}",
            ]
        )
    fit_rows = []
    for (split, _, _), group in frame.groupby(["split", "extractor", "backend"], sort=False):
        at_eval = group[group.eval_k]
        sweep = group[group.in_sweep]
        fit_rows.append(
            [
                row_cell_label(group.iloc[0]),
                split,
                f"{at_eval.fit_s.median():.2f}",
                f"{at_eval.predict_s.median():.3f}",
                f"{at_eval.n_iter.median():.0f}",
                f"{sweep.fit_s.sum():.1f}" if len(sweep) > 1 else "–",
            ]
        )
    return [
        "## Runtime",
        "",
        "Extraction of the features of every image (transform only; training of supervised "
        "extractors is separate, and their test accuracy is on the held-out test images):",
        "",
        markdown_table(ext_rows, ["extractor", "extract s", "training s", "model test acc"]),
        "",
        "Clustering, per cell: median over seeds at eval_k, and summed over the k sweep:",
        "",
        markdown_table(
            fit_rows, ["cell", "split", "fit s", "predict s", "iterations", "fit s, k sweep total"]
        ),
        "",
    ]


def seed_blog_section(evals_all: pd.DataFrame) -> list[str]:
    """The seed blog's published macro purities beside ours, for context."""
    rows = []
    for ext, what, published in SEED_BLOG:
        ours = evals_all[evals_all.extractor == ext]
        for backend, group in ours.groupby("backend", sort=False):
            rows.append(
                [
                    what,
                    f"{published:.4f}",
                    f"{ext} × {backend}",
                    mean_std(group.macro_purity, 4),
                    mean_std(group.purity, 4),
                ]
            )
        if ours.empty:
            rows.append([what, f"{published:.4f}", "(not in this run)", "–", "–"])
    return [
        "## The seed blog's figures beside ours",
        "",
        'The blog\'s "accuracy" is the unweighted mean of cluster purities (our `macro_purity`), '
        "on all 70,000 images with features from a CNN trained on the training images.",
        "",
        markdown_table(rows, ["seed blog", "published", "ours", "macro purity", "purity"]),
        "",
    ]


def header(frame: pd.DataFrame, env: dict[str, Any]) -> list[str]:
    packages = env.get("packages", {})
    git = env.get("git", {})
    blas = ", ".join(
        f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)"
        for p in env.get("threadpools", [])
    )
    per_split = frame.groupby("split", sort=False).n_samples.first().items()
    ns = ", ".join(f"`{s}`: {n:,}" for s, n in per_split)
    dirty = " (uncommitted changes)" if git.get("dirty") else ""
    lines = [
        f"- **dataset**: {frame.dataset.iloc[0]}, images clustered per split: {ns}",
        f"- **date**: {env.get('date', 'unknown')}",
        f"- **git commit**: {(git.get('commit') or 'unknown')[:12]}{dirty}",
        f"- **CPU**: {env.get('cpu', 'unknown')}; threads per backend: "
        f"{', '.join(str(v) for v in sorted(frame.threads.unique()))}; "
        f"BLAS/OpenMP: {blas or 'unknown'}",
        "- **packages**: " + ", ".join(f"{k} {v}" for k, v in packages.items()),
    ]
    if env.get("command"):
        lines.append(f"- **command**: `{env['command']}` (config hash {env.get('config_hash')})")
    return lines


def context_line(frame: pd.DataFrame, env: dict[str, Any], eval_k: int, seeds: list[int]) -> str:
    """One line under the title: dataset, images, k, seeds, date and commit of the run."""
    per_split = frame.groupby("split", sort=False).n_samples.first().items()
    ns = ", ".join(f"{n:,} (`{s}`)" for s, n in per_split)
    commit = ((env.get("git") or {}).get("commit") or "unknown")[:12]
    date = str(env.get("date", "unknown"))[:10]
    return (
        f"{frame.dataset.iloc[0]}, images clustered: {ns}; k = {eval_k}; seeds "
        f"{', '.join(map(str, seeds))}; {date}, commit {commit}. "
        "Details: [run environment](#run-environment)."
    )


def clusters_section(
    links: dict[visuals.Cell, tuple[str, str]], map_links: dict[visuals.Cell, str], eval_k: int
) -> list[str]:
    """Links to each cell's cluster montage, confusion heatmap and (label-free cells) 2-D map."""
    if not links:
        return []
    with_maps = bool(map_links)
    rows = []
    for cell, (m, h) in links.items():
        rows.append(
            [
                visuals_cell_name(cell),
                f"`{cell.split}`",
                cell.seed,
                f"[montage]({m})",
                f"[heatmap]({h})",
            ]
        )
        if with_maps:
            rows[-1].append(f"[map]({map_links[cell]})" if cell in map_links else "–")
    pictures = []
    for cell, (montage, heatmap) in links.items():
        pictures += [
            f"#### {visuals_cell_name(cell)}, split `{cell.split}`, seed {cell.seed}",
            "",
            f"![montage of {cell.stem}]({montage})",
            "",
            f"![confusion heatmap of {cell.stem}]({heatmap})",
            "",
        ]
        if cell in map_links:
            pictures += [f"![2-D map of {cell.stem}]({map_links[cell]})", ""]
    headers = ["cell", "split", "seed", "montage", "heatmap"] + (["2-D map"] if with_maps else [])
    maps_text = (
        f" For each label-free cell, a **2-D map** of a seeded sample of up to "
        f"{maps.N_POINTS:,} images (a 2-D UMAP of their pixels, the same layout for every "
        "cell), coloured by cluster, with a cross on each image whose digit differs from its "
        "cluster's majority."
        if with_maps
        else ""
    )
    return [
        f"## Clusters at k = {eval_k}",
        "",
        f"For each cell (first seed): a **montage** with a row of up to {visuals.N_SAMPLES} random "
        "images per cluster, labelled with the cluster's majority digit, size and purity (red: "
        "images of another digit), and a **confusion heatmap** of true digit × cluster, the "
        "clusters in the order of their Hungarian matching to the digits." + maps_text,
        "",
        markdown_table(rows, headers),
        "",
        "<details><summary>Show all montages and heatmaps</summary>",
        "",
        *pictures,
        "</details>",
        "",
    ]


def visuals_cell_name(cell: visuals.Cell) -> str:
    return words.cell_label(cell.extractor, cell.backend, cell.supervised)


def floor_per_iteration(env: dict[str, Any]) -> Callable[[int, int], float] | None:
    """The memory floor under one iteration over n x d features, in seconds, at the run's
    measured bandwidth (:mod:`.floor`); None when the run measured none."""
    bw = floor.bandwidth(env)
    return None if bw is None else functools.partial(floor.floor_s, bytes_per_s=bw)


#: Under the summary's title: what the suite answers, and what a headline is.
SUMMARY_INTRO = (
    "The question this suite answers: how well can MNIST be clustered **without labels**? "
    "The best label-free cell first, then the best cell whose features were trained on the "
    "labels, each by its **headline**: the start a user would keep without labels (the "
    "backend's best objective: lowest WCSS, or highest log-likelihood for a mixture), with "
    "the spread of the seeds' single starts beside it. ▼: the headline is below the seeds' "
    "mean (the best objective is not the best clustering there)."
)
#: Under the grid tables: what each score means.
SCORES_NOTE = (
    "Scores: `purity` weights each cluster by its size; `macro purity` is the unweighted "
    'mean of cluster purities (the seed blog\'s "accuracy"); `acc` matches clusters to '
    "digits one to one (Hungarian); NMI and ARI are scikit-learn's. Headline: the "
    "best-objective seed's scores (▼ below the seeds' mean); then mean ± sample std over "
    "seeds. *Supervised* extractors were trained on the labelled training images, so their "
    "scores on split `all` include images they saw; split `test` holds only unseen images."
)


def summary(frame: pd.DataFrame, env: dict[str, Any], eval_k: int, seeds: list[int]) -> list[str]:
    """The title and context line; the summary of the main split (``all`` when clustered): the
    headline table and the best cell per metric; the grid of every split at eval_k; the notes
    on pinned cells and on the scores."""
    evals = frame[frame.eval_k]
    splits = list(dict.fromkeys(frame.split))
    main_split = "all" if "all" in splits else splits[0]
    main = evals[evals.split == main_split]
    lines = [
        "# mnist-bench report",
        "",
        context_line(frame, env, eval_k, seeds),
        "",
        f"## Summary (k = {eval_k}, split `{main_split}`, seeds {', '.join(map(str, seeds))})",
        "",
        SUMMARY_INTRO,
        "",
        headline.summary_table(main),
        "",
        "Best cell per metric (mean over seeds):",
        "",
        best_cells(main),
        "",
    ]
    for split in splits:
        part = evals[evals.split == split]
        lines += [
            f"### Grid at k = {eval_k}, split `{split}` ({int(part.n_samples.iloc[0]):,} images)",
            "",
            grid_table(part),
            "",
        ]
    note = headline.pinned_note(evals, env)
    return [*lines, *([note, ""] if note else []), SCORES_NOTE, ""]


def pareto_section(evals: pd.DataFrame, out_dir: Path) -> list[str]:
    """Accuracy against time on the main split, each cell at its headline start."""
    split = "all" if (evals.split == "all").any() else str(evals.split.iloc[0])
    main = evals[evals.split == split]
    cells = [
        headline.chosen(group) for _, group in main.groupby(["extractor", "backend"], sort=False)
    ]
    return pareto_report.section(pd.DataFrame(cells), out_dir, split)


def published_sections(evals_all: pd.DataFrame) -> list[str]:
    """Ours beside the published figures, on split ``all``: the label-free methods (results
    with an ``objective`` column), then the seed blog's."""
    lines = []
    if "objective" in evals_all and not evals_all.empty:
        lines += label_free_section(evals_all)
    return lines + seed_blog_section(evals_all)


def environment_section(frame: pd.DataFrame, env: dict[str, Any]) -> list[str]:
    """The run environment, and where every number of the report comes from (the last lines)."""
    return [
        "## Run environment",
        "",
        *header(frame, env),
        "",
        "Every number in the tables above is read from `results.csv` in this folder; the "
        "montages and heatmaps are drawn from `labels/` and the dataset.",
    ]


def render(out_dir: str | Path, cache: Cache | None = None) -> Path:
    """Write ``OUT/REPORT.md`` (and its plots) from ``OUT/results.csv``; return its path.

    ``cache``: where the 2-D map layouts are kept across runs (none: made for this folder).
    """
    out_dir = Path(out_dir)
    frame = read_results(out_dir)
    if frame.empty:
        raise UserError(f"{out_dir / words.RESULTS} has no rows")
    env = environment.read(out_dir / words.ENVIRONMENT)
    bench = timings.read(out_dir / words.BENCHMARK)
    # the rows from shared starts have their own section
    every_row, frame = frame, shared_starts_report.own_rows(frame)
    evals = frame[frame.eval_k]
    # the k most evaluated rows share (a backend that chooses its own has the k it found)
    eval_k = int(evals.k.mode().iloc[0])
    seeds = sorted(evals.seed.unique())
    lines = summary(frame, env, eval_k, seeds)
    lines += pareto_section(evals, out_dir)
    lines += kfree.section(evals)
    lines += clusters_section(
        visuals.ensure(out_dir, frame, env, cache=cache),
        maps.ensure(out_dir, frame, env, cache=cache),
        eval_k,
    )
    lines += kselect_report.elbow_section(frame, out_dir, eval_k, seeds)
    lines += kselect_report.section(frame, out_dir)
    lines += headline.stability_section(evals)
    lines += runtime_section(frame)
    lines += floor.section(frame, env)
    lines += shared_starts_report.section(every_row, floor_per_iteration(env))
    lines += timeshare.section(out_dir, frame)
    lines += published_sections(evals[evals.split == "all"])
    lines += timeshare.benchmark_section(bench)
    lines += environment_section(frame, env)
    path = out_dir / words.REPORT
    write_text(path, "\n".join(lines) + "\n")
    return path

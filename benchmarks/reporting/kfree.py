"""The report's section on the backends that choose their own number of clusters (HDBSCAN):
how many they found, the share of points they left as noise, and the scores over all points and
over the clustered ones.

Over all points, noise counts as wrong for acc and as one more cluster for NMI and ARI (the
convention of umap-learn's documentation and of clustbench, see
:func:`mnist_bench.analyses.scores.scores`); over the clustered points it is left out.
"""

from __future__ import annotations

import pandas as pd

from mnist_bench.core.tables import markdown_table
from mnist_bench.core.vocabulary import row_cell_label

TITLE = "## Backends that choose their own number of clusters"


def rows_of(evals: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``evals`` whose backend chose its number of clusters."""
    if "chose_k" not in evals:
        return evals.iloc[:0]
    return evals[evals["chose_k"].fillna(False).astype(bool)]


def label(row: pd.Series) -> str:
    """What a cell's label says of such a row: the clusters found and the noise."""
    return f"{int(row['clusters'])} clusters, {row['noise']:.1%} noise"


def section(evals: pd.DataFrame) -> list[str]:
    """The section's lines (none when no backend chose its number of clusters)."""
    chose = rows_of(evals)
    if chose.empty:
        return []
    rows = [
        [
            row_cell_label(row),
            row["split"],
            int(row["clusters"]),
            f"{row['noise']:.1%}",
            f"{row['acc']:.3f} / {row['nmi']:.3f} / {row['ari']:.3f}",
            f"{row['acc_clustered']:.3f} / {row['nmi_clustered']:.3f} / {row['ari_clustered']:.3f}",
            f"{row['fit_s']:.1f}",
        ]
        for _, row in chose.iterrows()
    ]
    headers = [
        "cell",
        "split",
        "clusters",
        "noise",
        "all points: acc / NMI / ARI",
        "clustered points: acc / NMI / ARI",
        "fit s",
    ]
    return [
        TITLE,
        "",
        "These backends find the number of clusters themselves and may leave points out of "
        "every cluster (noise). Over all points, noise counts as wrong for acc and as one more "
        "cluster for NMI and ARI (the convention of umap-learn's documentation and of "
        "clustbench); over the clustered points it is left out.",
        "",
        markdown_table(rows, headers),
        "",
    ]

"""Accuracy against time: a cell's total time and the Pareto front, on hand-made cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_bench.analyses.pareto import report
from mnist_bench.analyses.pareto.front import on_front, total_seconds


def test_the_front_keeps_the_cells_no_other_beats_on_both() -> None:
    score = pd.Series([0.5, 0.9, 0.7, 0.9, 0.95, np.nan, 0.4])
    seconds = pd.Series([1.0, 10.0, 5.0, 20.0, 100.0, 0.1, 2.0])
    # 0.9 in 20 s is beaten by 0.9 in 10 s; 0.4 in 2 s by 0.5 in 1 s; no score: not on it
    assert list(on_front(score, seconds)) == [True, True, True, False, True, False, False]
    # of two cells equal on both, one is on the front
    assert on_front(pd.Series([0.8, 0.8]), pd.Series([3.0, 3.0])).sum() == 1


def test_total_time_counts_a_supervised_extractors_training_only() -> None:
    rows = pd.DataFrame(
        {
            "supervised": [True, False],
            "extract_s": [8.0, 100.0],
            "extractor_fit_s": [90.0, 95.0],  # a label-free fit is inside extract_s already
            "fit_s": [0.5, 1.5],
            "predict_s": [0.25, 0.5],
        }
    )
    assert list(total_seconds(rows)) == [98.75, 102.0]


def test_the_section_tables_the_front_and_draws_the_picture(tmp_path: Path) -> None:
    cells = pd.DataFrame(
        {
            "extractor": ["raw", "umap", "lenet"],
            "backend": ["sklearn", "gmm", "sklearn"],
            "extractor_steps": [None, None, None],
            "supervised": [False, False, True],
            "acc": [0.55, 0.97, 0.93],
            "ari": [0.38, 0.93, 0.90],
            "extract_s": [0.5, 100.0, 8.0],
            "extractor_fit_s": [np.nan, 99.0, 90.0],
            "fit_s": [2.5, 1.5, 0.04],
            "predict_s": [0.1, 0.1, 0.01],
        }
    )
    lines = report.section(cells, tmp_path, "all")
    text = "\n".join(lines)
    assert text.startswith(report.TITLE)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    # the label-free front is tabled; a supervised cell on the front of all cells is named
    assert [row.split("|")[1].strip() for row in table[1:]] == ["raw × sklearn", "umap × gmm"]
    assert "lenet × sklearn (supervised): 0.930 in 98 s" in text
    assert (tmp_path / "pareto_all.png").stat().st_size > 1000
    assert report.section(cells.iloc[:1], tmp_path, "all") == []


@pytest.mark.parametrize("missing", ["acc", "ari"])
def test_a_cell_without_a_score_is_drawn_without_failing(tmp_path: Path, missing: str) -> None:
    cells = pd.DataFrame(
        {
            "extractor": ["raw", "hog"],
            "backend": ["sklearn", "sklearn"],
            "supervised": [False, False],
            "acc": [0.5, 0.6],
            "ari": [0.3, 0.4],
            "extract_s": [1.0, 2.0],
            "extractor_fit_s": [np.nan, np.nan],
            "fit_s": [1.0, 1.0],
            "predict_s": [0.1, 0.1],
        }
    )
    cells.loc[0, missing] = np.nan
    assert report.section(cells, tmp_path, "all")

"""The committed reference run: its REPORT.md is exactly what its results.csv renders to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mnist_bench.core.vocabulary import COLUMNS
from mnist_bench.grid import config
from mnist_bench.reporting.report import render

REFERENCE = Path(__file__).resolve().parents[1] / "reports" / "reference"


def test_reference_report_is_rendered_from_its_results(tmp_path: Path) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE, copy)
    render(copy)
    assert (copy / "REPORT.md").read_text() == (REFERENCE / "REPORT.md").read_text()


def test_reference_is_the_default_grid() -> None:
    frame = pd.read_csv(REFERENCE / "results.csv")
    # the reference run predates the own_s column (the suite's own seconds per row)
    assert list(frame.columns) == [c for c in COLUMNS if c != "own_s"]
    cfg = config.load()  # the default grid
    assert set(frame.extractor) == set(cfg.extractors)
    assert set(frame.backend) == set(cfg.backends)
    for (extractor, backend), _ in frame.groupby(["extractor", "backend"]):
        assert cfg.runs(backend, extractor)
    assert (frame[frame.split == "all"].n_samples == 70000).all()
    assert sorted(frame[frame.eval_k].seed.unique()) == [0, 1, 2]

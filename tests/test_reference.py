"""The committed reference run: its REPORT.md is exactly what its results.csv renders to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from mnist_bench.core import vocabulary as words
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
    assert list(frame.columns) == list(COLUMNS)
    cfg = config.load()  # the default grid
    shared = frame["init"].eq("shared")
    own = frame[~shared]
    assert set(own.extractor) == set(cfg.extractors)
    assert set(own.backend) == set(cfg.backends)
    for (extractor, backend), rows in own.groupby(["extractor", "backend"]):
        assert cfg.runs(backend, extractor)
        # with the default grid's parameters (n_init = 3 of the GMM, for one)
        for params in rows.backend_params.unique():
            assert cfg.backends[backend].items() <= json.loads(params).items()
    expected = {
        (e, words.shared_backend(b))
        for e in cfg.shared_starts["extractors"]
        for b in cfg.shared_starts["backends"]
    }
    assert set(zip(frame[shared].extractor, frame[shared].backend, strict=True)) == expected
    assert (frame[frame.split == "all"].n_samples == 70000).all()
    assert sorted(frame[frame.eval_k].seed.unique()) == [0, 1, 2]

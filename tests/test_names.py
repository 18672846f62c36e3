"""Names that become file names (split, extractor, backend) never lead outside the run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_cli

from mnist_bench.core import vocabulary as words

REFERENCE = ROOT / "reports" / "reference"


@pytest.mark.parametrize(
    "value",
    ["/../../../../somewhere/else/pwned", "../x", "a/b", ".hidden", "-flag", "", "a b", "x" * 65],
)
def test_names_that_could_leave_the_folder_are_refused(value: str) -> None:
    assert not words.is_name(value)
    with pytest.raises(ValueError):
        words.stem(value, "raw", "sklearn", 10, 0)
    with pytest.raises(ValueError):
        words.elbow_file(value)


@pytest.mark.parametrize("value", ["all", "raw", "pca-umap", "n2d", "my_ext.v2", "a+b"])
def test_ordinary_names_pass(value: str) -> None:
    assert words.is_name(value)
    assert words.stem("all", value, "sklearn", 10, 0) == f"all-{value}-sklearn-k10-seed0"


@pytest.mark.parametrize("column", ["split", "extractor", "backend"])
def test_report_and_compare_refuse_a_traversal_in_results(tmp_path: Path, column: str) -> None:
    run = tmp_path / "deep" / "er" / "run"
    run.mkdir(parents=True)
    frame = pd.read_csv(REFERENCE / "results.csv")
    frame.loc[3, column] = "/../../../../somewhere/else/pwned"
    frame.to_csv(run / "results.csv", index=False)
    before = sorted(p for p in tmp_path.rglob("*"))
    done = run_cli("report", str(run), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 5" in lines[0] and repr(column) in lines[0], done.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not (tmp_path / "somewhere").exists()
    shutil.copy(REFERENCE / "results.csv", tmp_path / "results.csv")
    done = run_cli("compare", str(REFERENCE), str(run))
    assert done.returncode == 2 and "row 5" in done.stderr and repr(column) in done.stderr
    assert ("not a valid name" if column != "split" else "unknown split") in done.stderr


def test_config_refuses_a_chain_name_that_is_not_a_file_name(tmp_path: Path) -> None:
    config = tmp_path / "grid.toml"
    config.write_text('dataset = "digits"\n[extractors."../evil"]\nsteps = ["raw"]\n')
    done = run_cli("run", "--config", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "not allowed" in done.stderr and len(done.stderr.strip().splitlines()) == 1

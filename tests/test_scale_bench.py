"""The scale benchmark end to end on a small N: own and shared-start rows, per-iteration times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_bench import scale_bench


@pytest.mark.ci  # five child processes (the dataset, then one per measurement)
def test_shared_start_rows_do_the_same_work(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    args = ["--sizes", "3000", "--backends", "sklearn,faiss", "--threads", "1"]
    args += ["--iterations", "6", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert scale_bench.main(args) == 0
    rows = pd.read_csv(out / "results.csv").set_index("backend")
    assert set(rows.index) == {"sklearn", "faiss", "sklearn@shared", "faiss@shared"}
    assert (rows["status"] == "ok").all()
    shared = rows.loc[["sklearn@shared", "faiss@shared"]]
    assert (shared["n_iter"] == 6).all()
    assert shared["start_s"].notna().all()
    assert rows.loc[["sklearn", "faiss"], "start_s"].isna().all()
    # the same algorithm from the same centres: the same WCSS up to float rounding
    np.testing.assert_allclose(shared["wcss"].iloc[0], shared["wcss"].iloc[1], rtol=1e-5)
    np.testing.assert_allclose(rows["s_per_iter"], rows["fit_s"] / rows["n_iter"])
    assert json.loads((out / scale_bench.BANDWIDTH_FILE).read_text())["bytes_per_s"] > 0
    report = (out / "REPORT.md").read_text()
    for column in ("s_per_iter", "x_floor", "wcss_vs_best", "seconds per iteration"):
        assert column in report
    # a rerun measures nothing again
    before = (out / "results.csv").read_bytes()
    assert scale_bench.main(args) == 0
    assert (out / "results.csv").read_bytes() == before


def test_relative_wcss_is_against_the_best_at_each_n() -> None:
    frame = pd.DataFrame(
        {"n": [10, 10, 20, 20], "wcss": [100.0, 101.0, 50.0, np.nan], "status": ["ok"] * 4}
    )
    rel = scale_bench.relative_wcss(frame)
    np.testing.assert_allclose(rel.iloc[:3], [0.0, 0.01, 0.0])
    assert np.isnan(rel.iloc[3])


def test_slopes_per_backend() -> None:
    n = np.array([1e4, 1e5, 1e6])
    frame = pd.DataFrame(
        {
            "n": np.tile(n, 2),
            "backend": ["a"] * 3 + ["b"] * 3,
            "status": "ok",
            "total_s": np.r_[n * 1e-3, n**2 * 1e-9],
            "s_per_iter": np.r_[n * 1e-5, n * 1e-5],
        }
    )
    total = scale_bench.slopes(frame)
    assert abs(total["a"] - 1) < 1e-9 and abs(total["b"] - 2) < 1e-9
    assert abs(scale_bench.slopes(frame, "s_per_iter")["b"] - 1) < 1e-9


def test_unknown_names_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag, name in (("--backends", "sklearn,nope"), ("--features", "nope")):
        args = ["--sizes", "1000", flag, name, "--out", str(tmp_path / "out")]
        assert scale_bench.main([*args, "--cache-dir", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "unknown" in err and "nope" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()

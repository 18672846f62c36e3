"""``mnist-bench scale``: its config and flags, its measurements (own and shared-start rows, per
iteration times, a timeout stopping larger N), its results.csv read back checked, and its report
rendered again by ``scale --render`` and ``mnist-bench report``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mnist_bench.cli import main
from mnist_bench.core import vocabulary as words
from mnist_bench.grid import scale, scale_config
from mnist_bench.reporting.scale import relative_wcss, slopes

REFERENCE = Path(__file__).resolve().parents[1] / "reports" / "reference" / "scale"


def _one_error(capsys: pytest.CaptureFixture[str], *words_in_it: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mnist-bench: error: "), err
    for word in words_in_it:
        assert word in err, err
    return err


@pytest.mark.ci  # five child processes (the dataset, then one per measurement)
def test_shared_start_rows_do_the_same_work(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    args = ["scale", "--sizes", "3000", "--backends", "sklearn,faiss", "--threads", "1"]
    args += ["--iterations", "6", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    rows = pd.read_csv(out / words.RESULTS)
    assert list(rows.columns) == list(words.SCALE_COLUMNS)
    rows = rows.set_index("backend")
    assert list(rows.index) == ["sklearn", "faiss", "sklearn@shared", "faiss@shared"]
    assert (rows["status"] == "ok").all()
    shared = rows.loc[["sklearn@shared", "faiss@shared"]]
    assert (shared["n_iter"] == 6).all()
    assert shared["start_s"].notna().all()
    assert rows.loc[["sklearn", "faiss"], "start_s"].isna().all()
    # the same algorithm from the same centres: the same WCSS up to float rounding
    np.testing.assert_allclose(shared["wcss"].iloc[0], shared["wcss"].iloc[1], rtol=1e-5)
    np.testing.assert_allclose(rows["s_per_iter"], rows["fit_s"] / rows["n_iter"])
    assert json.loads((out / words.BANDWIDTH).read_text())["bytes_per_s"] > 0
    report = (out / words.REPORT).read_text()
    for column in ("s_per_iter", "x_floor", "wcss_vs_best", "seconds per iteration"):
        assert column in report
    # a rerun measures nothing again; `report` renders the same report from the folder alone
    before = (out / words.RESULTS).read_bytes()
    assert main(args) == 0
    assert (out / words.RESULTS).read_bytes() == before
    (out / words.REPORT).unlink()
    assert main(["report", str(out)]) == 0
    assert (out / words.REPORT).read_text() == report


def test_one_measurement_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a child of ``scale`` does: one row, as JSON on stdout (here from the shared start)."""
    args = ["scale", "--one", "1500", "sklearn@shared", "--iterations", "4", "--threads", "1"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["n"] == 1500 and row["backend"] == "sklearn@shared" and row["status"] == "ok"
    assert row["n_iter"] == 4 and row["start_s"] > 0 and row["threads"] == 1
    assert row["feature_mb"] == pytest.approx(1500 * 784 * 4 / 2**20)
    assert not (tmp_path / "cache" / "scale-bench" / "1500-sklearn@shared-raw").exists()


def _fake_child(timed_out: str) -> Any:
    """A stand-in for the measuring child process: backend ``timed_out`` runs out of time."""

    def child(flags: list[str], timeout: float) -> tuple[str, dict[str, Any] | None, float]:
        if flags[0] == "--generate":
            return "ok", None, 0.5
        n, backend = int(flags[1]), flags[2]
        if backend.removesuffix("@shared") == timed_out:
            return "timeout", None, timeout
        row = {"n": n, "backend": backend, "extractor": "raw", "status": "ok", "threads": 1,
               "total_s": n / 1e3, "extract_s": 0.1, "fit_s": n / 2e3, "predict_s": 0.01,
               "peak_rss_mb": 100.0, "feature_mb": n * 784 * 4 / 2**20, "purity": 0.4,
               "n_iter": 7, "s_per_iter": n / 14e3, "wcss": float(n)}  # fmt: skip
        return "ok", row, n / 1e3

    return child


def test_a_timeout_stops_that_backend_at_larger_n(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scale, "_child", _fake_child("faiss"))
    out = tmp_path / "scale"
    args = ["scale", "--sizes", "2000,1000,4000", "--backends", "sklearn,faiss", "--timeout", "9"]
    assert main([*args, "--threads", "1", "--out", str(out)]) == 0
    rows = pd.read_csv(out / words.RESULTS)
    assert list(rows.n) == [1000] * 4 + [2000] * 4 + [4000] * 4  # smallest N first
    status = rows.set_index(["n", "backend"])["status"]
    assert status[1000, "faiss"] == "timeout" and status[1000, "faiss@shared"] == "timeout"
    for n in (2000, 4000):
        assert status[n, "sklearn"] == "ok"
        assert status[n, "faiss"] == "skipped" and status[n, "faiss@shared"] == "skipped"
    assert rows.loc[rows.status == "timeout", "total_s"].eq(9).all()
    report = (out / words.REPORT).read_text()
    assert "Runs stopped at 9 s are marked `timeout`" in report
    assert "numerics `portable`" in report  # the default mode, as every command's
    assert (out / words.SCALE_PLOT).stat().st_size > 0
    assert scale_config.read_settings(out)["sizes"] == [1000, 2000, 4000]


def test_a_rerun_measured_otherwise_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(scale, "_child", _fake_child(""))
    out = tmp_path / "scale"
    args = ["scale", "--sizes", "1000", "--backends", "sklearn", "--out", str(out)]
    assert main([*args, "--threads", "1"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main([*args, "--threads", "2"]) == 2
    _one_error(capsys, "threads = 1", str(out))
    assert main([*args, "--threads", "1", "--numerics", "native"]) == 2
    _one_error(capsys, "numerics = portable")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_config_holds_todays_defaults_and_flags_override_it() -> None:
    cfg = scale_config.load()
    assert cfg == scale_config.ScaleConfig()  # the file and the model's defaults agree
    assert cfg.sizes == [70_000, 250_000, 1_000_000]
    assert cfg.backends == ["sklearn", "faiss", "dask"]
    assert (cfg.extractor, cfg.threads, cfg.timeout, cfg.iterations) == ("raw", 2, 600, 25)
    assert cfg.measured() == [
        "sklearn", "faiss", "dask", "sklearn@shared", "faiss@shared", "dask@shared"
    ]  # fmt: skip
    cfg = scale_config.load(None, {"sizes": [5000, 1000, 5000], "timeout": 9.5, "threads": None})
    assert cfg.sizes == [1000, 5000] and cfg.timeout == 9.5 and cfg.threads == 2


@pytest.mark.parametrize(
    ("toml", "flags", "said"),
    [
        ("sizez = [1000]\n", [], "unknown config key 'sizez' (did you mean 'sizes'?)"),
        ("threads = true\n", [], "config key 'threads'"),
        ('backends = "sklearn"\n', [], "config key 'backends'"),
        ("", ["--backends", "sklearn,nope"], "unknown backend 'nope'"),
        ("", ["--features", "nope"], "unknown extractor 'nope'"),
        ("", ["--sizes", "1000,x"], "--sizes must be integers"),
        ("", ["--sizes", "0"], "--sizes"),
        ("", ["--timeout", "-1"], "--timeout"),
        ("", ["--iterations", "0"], "--iterations"),
        ("", ["--threads", "two"], "--threads must be an integer"),
    ],
)
def test_mistakes_are_one_line_exit_2_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, flags: list[str], said: str
) -> None:
    config = tmp_path / "study.toml"
    config.write_text(toml)
    args = ["scale", "--config", str(config), "--out", str(tmp_path / "out"), *flags]
    assert main([*args, "--cache-dir", str(tmp_path / "c")]) == 2
    _one_error(capsys, said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


def test_reference_report_is_rendered_from_its_folder(tmp_path: Path) -> None:
    """``mnist-bench report`` knows a scale folder by its settings and renders its REPORT.md."""
    copy = tmp_path / "scale"
    shutil.copytree(REFERENCE, copy)
    (copy / words.REPORT).unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / words.REPORT).read_text() == (REFERENCE / words.REPORT).read_text()
    assert main(["scale", "--render", "--out", str(copy)]) == 0  # its own settings, not flags'
    assert (copy / words.REPORT).read_text() == (REFERENCE / words.REPORT).read_text()


def test_a_folder_from_before_the_settings_is_known_by_its_columns(tmp_path: Path) -> None:
    copy = tmp_path / "scale"
    shutil.copytree(REFERENCE, copy)
    (copy / words.SCALE_SETTINGS).unlink()
    assert main(["report", str(copy)]) == 0
    assert "Runs stopped at the timeout are marked" in (copy / words.REPORT).read_text()
    assert not (copy / words.SCALE_SETTINGS).exists()  # report only renders
    assert main(["scale", "--render", "--timeout", "900", "--out", str(copy)]) == 0
    assert scale_config.read_settings(copy)["timeout"] == 900  # --render records the flags'


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "the file is empty"),
        ("dataset,split,extractor,backend\nmnist,all,raw,sklearn\n", "not a scale study's"),
        (None, "row 3, column 'n_iter'"),
        (None, "row 2, column 'status'"),
        (None, "a second row for n=70000, backend=sklearn"),
    ],
)
def test_damaged_or_foreign_results_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, said: str
) -> None:
    copy = tmp_path / "scale"
    shutil.copytree(REFERENCE, copy)
    csv = copy / words.RESULTS
    if text is None:
        lines = csv.read_text().splitlines(keepends=True)
        if "n_iter" in said:
            lines[2] = lines[2].replace(",25,2,", ",-3,2,")
        elif "status" in said:
            lines[1] = lines[1].replace(",ok,", ",fine,")
        else:
            lines.append(lines[1])
        text = "".join(lines)
    csv.write_text(text)
    for command in (["report", str(copy)], ["scale", "--render", "--out", str(copy)]):
        assert main(command) == 2
        _one_error(capsys, said)
    assert main(["scale", "--numerics", "native", "--out", str(copy)]) == 2  # nor a run
    _one_error(capsys, said)


def test_render_of_an_empty_folder_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scale", "--render", "--out", str(tmp_path / "none")]) == 2
    _one_error(capsys, "no results.csv")
    assert not (tmp_path / "none").exists()


def test_relative_wcss_is_against_the_best_at_each_n() -> None:
    frame = pd.DataFrame(
        {"n": [10, 10, 20, 20], "wcss": [100.0, 101.0, 50.0, np.nan], "status": ["ok"] * 4}
    )
    rel = relative_wcss(frame)
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
    total = slopes(frame)
    assert abs(total["a"] - 1) < 1e-9 and abs(total["b"] - 2) < 1e-9
    assert abs(slopes(frame, "s_per_iter")["b"] - 1) < 1e-9

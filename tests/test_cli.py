"""The CLI end to end on small data, as a user runs it (in a subprocess)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_bench.core.vocabulary import COLUMNS

DESIGN_COLUMNS = [
    "dataset",
    "split",
    "n_samples",
    "extractor",
    "feature_dim",
    "backend",
    "k",
    "seed",
    "wcss",
    "purity",
    "macro_purity",
    "acc",
    "nmi",
    "ari",
    "n_iter",
    "extract_s",
    "fit_s",
    "predict_s",
]


def test_list_is_fast_and_complete(cli) -> None:
    done = cli("list")
    assert done.returncode == 0, done.stderr
    for name in ("mnist", "digits", "raw", "hog", "sklearn", "faiss"):
        assert re.search(rf"^\s+{name}\s+\S", done.stdout, re.M), name


DIGITS_TOML = """
dataset = "digits"
[features.raw]
[features.hog]
pixels_per_cell = 4
[backends.sklearn]
[backends.faiss]
"""


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import run_cli, seed_layouts

    folder = tmp_path_factory.mktemp("run")
    seed_layouts("digits")
    config = folder / "digits.toml"
    config.write_text(DIGITS_TOML)
    done = run_cli(
        "run",
        "--config",
        str(config),
        "--k",
        "1-4,10",
        "--seeds",
        "0,1",
        "--out",
        str(folder / "out"),
        "--cache-dir",
        str(folder / "cache"),
    )
    assert done.returncode == 0, done.stderr
    return folder / "out"


def test_run_writes_the_contract(digits_run: Path) -> None:
    frame = pd.read_csv(digits_run / "results.csv")
    assert list(frame.columns) == list(COLUMNS)
    assert set(DESIGN_COLUMNS) <= set(frame.columns)
    # 2 extractors x 2 backends x (5 sweep ks on seed 0 + eval_k on seed 1)
    assert len(frame) == 2 * 2 * 6
    assert set(frame.split) == {"all"}
    assert (frame.n_samples == 1797).all()
    assert set(frame[frame.extractor == "hog"].feature_dim) == {36}  # 8x8 image: 1 block
    evals = frame[frame.eval_k]
    assert sorted(evals.seed.unique()) == [0, 1] and set(evals.k) == {10}
    for name in ("REPORT.md", "environment.json", "elbow_all.png"):
        assert (digits_run / name).is_file(), name


def test_k1_purity_is_the_commonest_share(digits_run: Path) -> None:
    frame = pd.read_csv(digits_run / "results.csv")
    from mnist_bench.data.datasets import load

    labels = load("digits").labels
    k1 = frame[frame.k == 1]
    assert np.allclose(k1.purity, np.bincount(labels).max() / len(labels))
    assert np.allclose(k1.nmi, 0.0)


def test_faiss_and_sklearn_wcss_agree(digits_run: Path) -> None:
    frame = pd.read_csv(digits_run / "results.csv")
    at10 = frame[(frame.k == 10) & (frame.seed == 0)].set_index(["extractor", "backend"]).wcss
    for ext in ("raw", "hog"):
        assert at10[(ext, "faiss")] == pytest.approx(at10[(ext, "sklearn")], rel=0.05)


def test_report_links_exist_and_rerender_is_identical(digits_run: Path, cli) -> None:
    report = (digits_run / "REPORT.md").read_text()
    links = [link for link in re.findall(r"\]\(([^)#]+)\)", report) if "://" not in link]
    assert "elbow_all.png" in links
    for link in links:
        assert (digits_run / link).is_file(), link
    assert "k sweep runs on seed 0 only" in report
    frame = pd.read_csv(digits_run / "results.csv")
    best = frame[frame.eval_k].groupby(["extractor", "backend"]).purity.mean().max()
    assert f"{best:.3f}" in report
    done = cli("report", str(digits_run))
    assert done.returncode == 0, done.stderr
    assert (digits_run / "REPORT.md").read_text() == report


USER_ERRORS = [
    (["run", "--dataset", "digits", "--features", "hog"], "hog: images of 8x8 pixels"),
    (["run", "--features", "nope"], "unknown extractor 'nope'.*known: .*hog.*raw"),
    (["run", "--backends", "x"], "unknown backend 'x'"),
    (["run", "--dataset", "y"], "unknown dataset 'y'"),
    (["run", "--seeds", "0,a"], "--seeds must be integers"),
    (["run", "--k", "0"], r"--k \(at 0\): Input should be greater than or equal to 1"),
    (["run", "--k", "1-3", "--eval-k", "9"], "eval_k 9 is outside the k range 1-3"),
    (["run", "--config", "missing.toml"], "config file not found"),
    (["run", "--bogus"], "unrecognized arguments"),
    (["report", "/nonexistent"], "no results.csv"),
    (["frobnicate"], "invalid choice"),
]


@pytest.fixture(scope="module")
def refused() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    """Each command of :data:`USER_ERRORS`, in a subprocess of its own, all started at once."""
    from conftest import run_cli_all

    commands = [tuple(args) for args, _ in USER_ERRORS]
    return dict(zip(commands, run_cli_all(commands), strict=True))


@pytest.mark.parametrize(("args", "message"), USER_ERRORS)
def test_user_errors_exit_2_with_one_line(
    refused: dict[tuple[str, ...], subprocess.CompletedProcess[str]], args: list[str], message: str
) -> None:
    done = refused[tuple(args)]
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in done.stderr

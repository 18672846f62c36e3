"""Reliability, driven through the CLI in subprocesses: bad input, kill and resume, concurrent
runs on one cache, corrupt cache entries, identical reruns.

The grid runs (about ten seconds each) are marked ``ci``: CI runs them (``-m ci``), the default
run keeps the refusals. They share what they can: one uninterrupted run to compare with, and one
rerun whose filled cache the corrupt-entry case starts from."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, lend_layouts, run_cli, run_cli_all, seed_layouts

from mnist_bench.core.vocabulary import METRICS

# The acceptance grid, made smaller (2,000 images, k = 1..6) to keep the test run short.
GRID = [
    "--dataset",
    "mnist",
    "--limit",
    "2000",
    "--features",
    "raw,hog",
    "--backends",
    "sklearn,faiss",
    "--k",
    "1-6",
    "--seeds",
    "0",
]
# the k sweep of each cell, and the default grid's shared starts (raw and hog, sklearn and faiss
# from the same centres) at eval_k = 6 on seed 0
N_ROWS = 2 * 2 * 6 + 2 * 2
EXACT = [
    "dataset",
    "split",
    "n_samples",
    "extractor",
    "backend",
    "k",
    "seed",
    "wcss",
    *METRICS,
    "n_iter",
]


def _metrics(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / "results.csv")
    return frame[EXACT].sort_values(["extractor", "backend", "k", "seed"]).reset_index(drop=True)


def _leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of GRID."""
    folder = tmp_path_factory.mktemp("reference")
    seed_layouts("mnist", 2000)
    done = run_cli("run", *GRID, "--out", str(folder / "out"), "--cache-dir", str(folder / "c"))
    assert done.returncode == 0, done.stderr
    return folder / "out"


def _start(out: Path, cache: Path) -> subprocess.Popen[str]:
    lend_layouts(cache)  # the 2-D map layouts the session has made (see conftest)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnist_bench",
            "run",
            *GRID,
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def rerun(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GRID run again from a cold cache of its own (``c`` beside the output folder)."""
    folder = tmp_path_factory.mktemp("rerun")
    done = run_cli("run", *GRID, "--out", str(folder / "out"), "--cache-dir", str(folder / "c"))
    assert done.returncode == 0, done.stderr
    return folder / "out"


@pytest.mark.ci
def test_rerun_gives_identical_metrics(reference: Path, rerun: Path) -> None:
    pd.testing.assert_frame_equal(_metrics(rerun), _metrics(reference))


@pytest.mark.ci
def test_killed_run_resumes_to_the_same_results(reference: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = _start(out, cache)
    partial = out / ".partial.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) >= 6:
            break
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(partial.read_text().splitlines()) - 1
    assert 5 <= kept < N_ROWS
    assert not (out / "results.csv").exists()

    done = run_cli("run", *GRID, "--out", str(out), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert "resuming:" in done.stderr
    # finished rows were not recomputed
    assert done.stderr.count("kept from the interrupted run") == kept
    assert done.stderr.count("  fit ") == N_ROWS - kept
    pd.testing.assert_frame_equal(_metrics(out), _metrics(reference))
    assert not partial.exists()
    assert _leftovers(out, cache) == []


@pytest.mark.ci
def test_two_runs_on_one_cache_both_finish_equal(reference: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    procs = [_start(tmp_path / f"out{i}", cache) for i in range(2)]
    errors = [proc.communicate(timeout=600)[1] for proc in procs]
    for proc, err in zip(procs, errors, strict=True):
        assert proc.returncode == 0, err
    # each extractor's features were computed by one run only; the other waited and read them
    assert sum(err.count("extracting ") for err in errors) == 2
    for i in range(2):
        pd.testing.assert_frame_equal(_metrics(tmp_path / f"out{i}"), _metrics(reference))
    # each of raw and hog was computed once, by whichever run got its lock first
    assert len(_feature_entries(cache)) == 2
    assert _leftovers(cache, tmp_path) == []


def _feature_entries(cache: Path) -> list[Path]:
    """The cache's feature arrays (not the 2-D map layouts kept beside them), in name order."""
    return sorted(
        p
        for p in (cache / "features").glob("*.npy")
        if json.loads(p.with_suffix(".json").read_text()).get("kind") != "map-layout"
    )


@pytest.mark.ci
def test_corrupt_cache_entry_is_recomputed(reference: Path, rerun: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(rerun.parent / "c", cache)  # the cache a finished run of GRID filled
    entry = _feature_entries(cache)[0]
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    again = run_cli("run", *GRID, "--out", str(tmp_path / "b"), "--cache-dir", str(cache))
    assert again.returncode == 0, again.stderr
    assert "discarding corrupt cache entry" in again.stderr
    pd.testing.assert_frame_equal(_metrics(tmp_path / "b"), _metrics(reference))


BAD_ARGUMENTS = [
    (["--limit", "5"], "--limit 5 is out of range.*between 10"),
    (["--limit", "70001"], "--limit 70001 is out of range"),
    (["--limit", "x"], "--limit must be an integer"),
    (
        ["--dataset", "digits", "--features", "raw", "--k", "1800"],
        "k = 1800 is larger than the 1797 images",
    ),
    (["--seeds", "1.5"], "--seeds must be integers"),
    (["--eval-k", "20", "--k", "1-14"], "eval_k 20 is outside"),
]


@pytest.fixture(scope="module")
def refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, ...], tuple[subprocess.CompletedProcess[str], Path]]:
    """``run ARGS`` of each of :data:`BAD_ARGUMENTS` with a folder of its own (the output folder
    ``out`` and the cache inside it), in subprocesses all started at once."""
    folders = [tmp_path_factory.mktemp("bad") for _ in BAD_ARGUMENTS]
    commands = [
        ("run", *args, "--out", str(folder / "out"), "--cache-dir", str(folder))
        for (args, _), folder in zip(BAD_ARGUMENTS, folders, strict=True)
    ]
    done = run_cli_all(commands)
    keys = [tuple(args) for args, _ in BAD_ARGUMENTS]
    return dict(zip(keys, zip(done, folders, strict=True), strict=True))


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_run_arguments(
    refused: dict[tuple[str, ...], tuple[subprocess.CompletedProcess[str], Path]],
    args: list[str],
    message: str,
) -> None:
    import re

    done, folder = refused[tuple(args)]
    assert done.returncode == 2
    assert re.search(message, done.stderr.strip().splitlines()[-1]), done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "out" / "results.csv").exists()


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("k = [1, 2\n")
    typo = tmp_path / "typo.toml"
    typo.write_text("seeds = [0]\nthread = 2\n")
    malformed, misspelt = run_cli_all([("run", "--config", str(path)) for path in (bad, typo)])
    assert malformed.returncode == 2 and f"malformed TOML in {bad}" in malformed.stderr
    assert (
        misspelt.returncode == 2
        and "unknown config key 'thread' (did you mean 'threads'?)" in misspelt.stderr
    )


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run_cli("run", "--dataset", "digits", "--features", "raw", "--out", str(blocker / "out"))
    assert done.returncode == 2
    assert "cannot write to the output folder" in done.stderr and "Traceback" not in done.stderr


def test_output_folder_in_use(tmp_path: Path) -> None:
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(out / ".lock")):
        done = run_cli(
            "run",
            "--dataset",
            "digits",
            "--features",
            "raw",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "c"),
        )
    assert done.returncode == 2 and "another run is writing to" in done.stderr


def test_nan_features_are_refused_naming_the_extractor(tmp_path: Path) -> None:
    code = (
        "import sys; from mnist_bench import features; from mnist_bench.cli import main;"
        "features.EXTRACTORS.register('nanny', 'tests.fake_plugins:NaNExtractor');"
        f"sys.exit(main(['run', '--dataset', 'digits', '--features', 'nanny', '--k', '3',"
        f" '--out', {str(tmp_path / 'out')!r}, '--cache-dir', {str(tmp_path / 'c')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 2, done.stderr
    assert "extractor 'nanny' produced NaN or inf features for 899 images" in done.stderr
    assert not list((tmp_path / "c").rglob("*.npy"))

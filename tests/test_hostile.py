"""Hostile input, through the CLI in subprocesses: damaged results for ``report`` and ``compare``,
damaged files the suite wrote itself (cache entries, the resume journal), a damaged checksum
file, leftovers of a killed writer, SIGTERM, and a refused run that must create nothing.

The cases that run the CLI again in subprocesses (a run, or several) are marked ``ci``: CI runs
them (``-m ci``), the default run keeps those that read the one good run (mostly in process)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli, seed_layouts

from mnist_bench.cli import main
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_npz
from mnist_bench.grid.journal import sealed

# A digits grid small enough to run many times: every case below starts from it.
SMALL = ["--dataset", "digits", "--extractors", "raw", "--backends", "sklearn", "--k", "9-10"]
SMALL += ["--seeds", "0,1"]


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``mnist-bench ARGS`` run in this process (faster than a subprocess; an uncaught exception
    fails the test as a traceback would)."""
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), status, out, err)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The error line of a refused command (and that it is one line, without a traceback)."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("mnist-bench:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    seed_layouts("digits")
    done = run_cli("run", *SMALL, "--out", str(folder / "run"), "--cache-dir", str(folder / "c"))
    assert done.returncode == 0, done.stderr
    return folder / "run"


def _cache(good: Path, tmp_path: Path) -> Path:
    """A copy of the good run's cache (its features and 2-D map layout: a run from it is quick)."""
    target = tmp_path / "c"
    if not target.exists():
        shutil.copytree(good.parent / "c", target)
    return target


def _copy(good: Path, tmp_path: Path, name: str = "run") -> Path:
    target = tmp_path / name
    shutil.copytree(good, target)
    return target


def _tree(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


# ---------------------------------------------------------------- results.csv for report/compare


def _damaged(text: str) -> list[tuple[str, str]]:
    """(name, damaged text) pairs of a good results.csv, with what the error must name."""
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    frame = pd.read_csv(pd.io.common.StringIO(text))

    def with_cell(column: str, value: str, row: int = 1) -> str:
        changed = frame.astype(object).copy()
        changed.loc[row, column] = value
        return changed.to_csv(index=False)

    return [
        ("torn", "".join(lines[:2]) + lines[2][: len(lines[2]) // 2]),
        ("missing column", frame.drop(columns=["purity"]).to_csv(index=False)),
        ("non-numeric k", with_cell("k", "ten")),
        ("k of zero", with_cell("k", "0")),
        ("purity above 1", with_cell("purity", "1.5")),
        ("bad flag", with_cell("eval_k", "maybe")),
        ("traversal", with_cell("backend", "../../x")),
        ("bad params", with_cell("backend_params", "[1, 2]")),
        ("unknown objective", with_cell("objective", "happiness")),
        ("infinite fit time", with_cell("fit_s", "inf")),
        ("extra field", text.replace(lines[2], lines[2].rstrip("\n") + ",1\n")),
        ("header only", lines[0]),
        ("empty", ""),
        ("binary", "\x00\xff\xfe garbage"),
        ("duplicate row", text + lines[-1]),
        ("two eval_k", with_cell("eval_k", "True", row=0)),
        ("not a table", json.dumps({"header": header})),
    ]


def test_report_and_compare_refuse_damaged_results(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (good / words.RESULTS).read_text()
    for name, damaged in _damaged(text):
        run = _copy(good, tmp_path, name.replace(" ", "-"))
        (run / words.RESULTS).write_text(damaged, errors="surrogateescape")
        before = _tree(run)
        for args in (["report", str(run)], ["compare", str(good), str(run)]):
            done = in_process(capsys, *args)
            assert done.returncode == 2, (name, args[0], done.stdout, done.stderr)
            line = _one_line(done)
            assert str(run / words.RESULTS) in line, (name, line)
        assert _tree(run) == before, name  # nothing written or removed


def test_the_error_names_the_row_and_the_column(good: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(good / words.RESULTS)
    frame["k"] = frame["k"].astype(object)
    frame.loc[2, "k"] = "ten"
    run = _copy(good, tmp_path)
    frame.to_csv(run / words.RESULTS, index=False)
    line = _one_line(run_cli("report", str(run)))
    assert "row 4, column 'k'" in line and "'ten'" in line


def test_compare_fails_closed_on_missing_scores(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(good / words.RESULTS)
    for column in ("purity", "nmi"):
        run = _copy(good, tmp_path, column)
        frame.assign(**{column: np.nan}).to_csv(run / words.RESULTS, index=False)
        done = in_process(capsys, "compare", str(good), str(run))
        assert done.returncode == 1, done.stdout
        assert "no value for " + column in done.stdout
        assert "no difference beyond tolerance" not in done.stdout
        # the report shows a run with missing scores (it is readable), without a traceback
        assert in_process(capsys, "report", str(run)).returncode == 0
    # one NaN on one seed is a difference too (not hidden by a mean)
    run = _copy(good, tmp_path, "one")
    frame.assign(acc=frame.acc.where(frame.index != len(frame) - 1)).to_csv(
        run / words.RESULTS, index=False
    )
    assert in_process(capsys, "compare", str(good), str(run)).returncode == 1
    assert in_process(capsys, "compare", str(good), str(good)).returncode == 0


def test_bad_environment_files_do_not_break_the_report(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, text in enumerate(["[1]", '{"git": "x", "cpu": [1], "date": 3}', "{", "null"]):
        run = _copy(good, tmp_path, f"env{i}")
        (run / words.ENVIRONMENT).write_text(text)
        (run / words.BENCHMARK).write_text(text)
        done = in_process(capsys, "report", str(run))
        assert done.returncode == 0, (text, done.stderr)
        assert "Traceback" not in done.stderr
        assert in_process(capsys, "compare", str(good), str(run)).returncode == 0


# ------------------------------------------------------------- files the suite wrote, damaged


def _rows(out: Path) -> pd.DataFrame:
    columns = [*words.ROW_KEY, "wcss", *words.METRICS, "n_iter"]
    return pd.read_csv(out / words.RESULTS)[columns]


@pytest.mark.ci
@pytest.mark.parametrize("damage", ["sidecar list", "nan", "rows", "timing"])
def test_damaged_cache_entries_are_recomputed(good: Path, tmp_path: Path, damage: str) -> None:
    cache = _cache(good, tmp_path)
    (entry,) = [p for p in (cache / "features").glob("*.npy") if np.load(p).shape[1] == 64]
    sidecar = entry.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    if damage == "sidecar list":
        sidecar.write_text("[1, 2]")
    elif damage == "timing":
        sidecar.write_text(json.dumps({**meta, "transform_s": "soon"}))
    else:  # an entry whose checksum, shape and dtype match, but not its contents
        X = np.load(entry)
        if damage == "rows":
            X = X[:-3]
        else:
            X.flat[7] = np.nan
        np.save(entry, X.astype(np.float32))
        digest = hashlib.sha256(entry.read_bytes()).hexdigest()
        sidecar.write_text(json.dumps({**meta, "sha256": digest, "shape": list(X.shape)}))
    again = run_cli("run", *SMALL, "--out", str(tmp_path / "b"), "--cache-dir", str(cache))
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("discarding corrupt cache entry") == 1, again.stderr
    pd.testing.assert_frame_equal(_rows(tmp_path / "b"), _rows(good))


@pytest.mark.ci
@pytest.mark.parametrize(
    "journal", ["[1]\n", "{}\n", "\x00\xff\n", '{"config_hash": 5}\n', "HEADER\n[1]\n{}\n"]
)
def test_a_damaged_journal_is_set_aside(good: Path, tmp_path: Path, journal: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / words.PARTIAL).write_text(journal, errors="surrogateescape")
    done = run_cli("run", *SMALL, "--out", str(out), "--cache-dir", str(_cache(good, tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    pd.testing.assert_frame_equal(_rows(out), _rows(good))


def _small_hash() -> str:
    """The config hash of SMALL (the header of its resume journal)."""
    from mnist_bench.grid import config

    overrides = {"dataset": "digits", "extractors": ["raw"], "backends": ["sklearn"]}
    return config.load(overrides={**overrides, "k": [9, 10], "seeds": [0, 1]}).hash()


@pytest.mark.ci
def test_damaged_journal_rows_are_recomputed(good: Path, tmp_path: Path) -> None:
    out, cache = _copy(good, tmp_path, "out"), _cache(good, tmp_path)
    # a journal of the same config: one good row, one with a wrong type, one torn, one a list
    rows = json.loads(pd.read_csv(out / words.RESULTS).to_json(orient="records"))
    bad = {**rows[1], "purity": "high"}
    lines = [json.dumps({"config_hash": _small_hash()}), sealed(rows[0]), sealed(bad)]
    lines += ["[1]", json.dumps(rows[2])[:40]]
    (out / words.PARTIAL).write_text("\n".join(lines) + "\n")
    (out / words.RESULTS).unlink()
    done = run_cli("run", *SMALL, "--out", str(out), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert "3 damaged line(s)" in done.stderr and "resuming: 1 rows" in done.stderr
    pd.testing.assert_frame_equal(_rows(out), _rows(good))


@pytest.mark.ci
def test_a_sweep_is_resumed_whole_or_computed_again(good: Path, tmp_path: Path) -> None:
    """A cell's k sweep is scored in one product: a journal holding only part of it gets the
    whole sweep computed again (the same scores, bit for bit, as an uninterrupted run)."""
    rows = json.loads(pd.read_csv(good / words.RESULTS).to_json(orient="records"))
    sweep = [r for r in rows if r["in_sweep"]]
    other = [r for r in rows if not r["in_sweep"]]
    assert len(sweep) == 2 and other  # k = 9 and 10 on seed 0; k = 10 on seed 1
    for name, journaled in (("part", sweep[:1]), ("whole", sweep)):
        out, cache = _copy(good, tmp_path, name), _cache(good, tmp_path)
        marked = [{**r, "fit_s": 123.0} for r in journaled]  # a mark a recomputed row loses
        lines = [json.dumps({"config_hash": _small_hash()}), *map(sealed, marked)]
        (out / words.PARTIAL).write_text("\n".join(lines) + "\n")
        (out / words.RESULTS).unlink()
        done = run_cli("run", *SMALL, "--out", str(out), "--cache-dir", str(cache))
        assert done.returncode == 0, done.stderr
        got = pd.read_csv(out / words.RESULTS)
        kept = got[got.in_sweep].fit_s.eq(123.0)
        assert kept.all() if name == "whole" else not kept.any()
        pd.testing.assert_frame_equal(_rows(out), _rows(good))
        scores = [*words.ROW_KEY, *words.K_SCORES]
        pd.testing.assert_frame_equal(got[scores], pd.read_csv(good / words.RESULTS)[scores])


@pytest.mark.ci
def test_a_damaged_checksum_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "mnist"
    shutil.copytree(ROOT / "data" / "mnist", data)
    sums = data / "SHA256SUMS.content"
    for text in ("onefield\n", "abc train-images-idx3-ubyte\n", "\xff\xfe\n"):
        sums.write_text(text, errors="surrogateescape")
        done = run_cli(
            "run", "--limit", "100", "--k", "10", "--out", str(tmp_path / "out"),
            env={"MNIST_DATA_DIR": str(data)},
        )  # fmt: skip
        assert done.returncode == 2
        assert str(sums) in _one_line(done)
        assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- leftovers, signals, names


def test_npz_files_round_trip_and_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "labels" / "cell.npz"
    index, labels = np.arange(70_000, dtype=np.int32), (np.arange(70_000) % 10).astype(np.int16)
    write_npz(path, index=index, labels=labels, version=np.str_("v1"))
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["index", "labels", "version"]
        np.testing.assert_array_equal(npz["index"], index)
        assert npz["labels"].dtype == np.int16 and np.array_equal(npz["labels"], labels)
        assert str(npz["version"]) == "v1"
    before = path.read_bytes()
    with pytest.raises(ValueError, match="Object arrays cannot be saved"):
        write_npz(path, index=index, labels=np.array([object()]))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["cell.npz"]  # no temporary left


@pytest.mark.ci
def test_temporaries_in_subfolders_are_removed(good: Path, tmp_path: Path) -> None:
    run = _copy(good, tmp_path)
    stale = [
        run / "montages" / ".x.png.mnist-bench-123-abc123xy.tmp",  # the suite's temporaries
        run / "labels" / ".y.npz.mnist-bench-4567-def456zz.tmp",
    ]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half")
    assert run_cli("report", str(run)).returncode == 0
    assert not any(p.exists() for p in stale)
    for path in stale:
        path.write_bytes(b"half")
    done = run_cli("run", *SMALL, "--out", str(run), "--cache-dir", str(_cache(good, tmp_path)))
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in stale)


@pytest.mark.ci
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "c"
    args = ["--dataset", "mnist", "--limit", "3000", "--extractors", "raw,hog"]
    args += ["--backends", "sklearn", "--k", "1-12", "--seeds", "0", "--cache-dir", str(cache)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_bench", "run", *args, "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = out / words.PARTIAL
    deadline = time.monotonic() + 300
    while not (partial.exists() and len(partial.read_text().splitlines()) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "mnist-bench: terminated; run the same command again to resume"
    )
    leftovers = [p for p in [*out.rglob("*"), *cache.rglob("*")] if ".tmp" in p.name]
    assert leftovers == []
    assert not (out / words.RESULTS).exists() and partial.exists()  # resumable


@pytest.mark.ci
def test_a_refused_run_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    for args in (
        ["--dataset", "digits", "--extractors", "hog"],  # 8x8 images: smaller than a HOG block
        ["--dataset", "digits", "--k", "1800"],
        ["--threads", "-1"],
        ["--seeds", "4294967296"],
        ["--k", "1-100000000000"],
    ):
        done = run_cli("run", *args, "--out", str(out), "--cache-dir", str(tmp_path / "c"))
        assert done.returncode == 2, (args, done.stderr)
        _one_line(done)
        assert not (tmp_path / "deep").exists(), args


@pytest.mark.ci
def test_export_takes_the_longest_legal_file_name(tmp_path: Path) -> None:
    out = tmp_path / ("f" * 250 + ".npz")
    assert len(out.name.encode()) == 254
    done = run_cli(
        "export", "--extractor", "raw", "--dataset", "digits", "--out", str(out),
        "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(out) as data:
        assert data["features"].shape == (1797, 64)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.ci
def test_a_kept_row_with_a_damaged_labels_file_is_recomputed(good: Path, tmp_path: Path) -> None:
    out, cache = _copy(good, tmp_path, "out"), _cache(good, tmp_path)
    rows = json.loads(pd.read_csv(out / words.RESULTS).to_json(orient="records"))
    lines = [json.dumps({"config_hash": _small_hash()}), *map(sealed, rows)]
    (out / words.PARTIAL).write_text("\n".join(lines) + "\n")
    (out / words.RESULTS).unlink()
    labels = out / words.labels_file("all", "raw", "sklearn", 10, 1)
    labels.write_bytes(labels.read_bytes()[:50])  # torn
    done = run_cli("run", *SMALL, "--out", str(out), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("is missing or damaged; recomputing its row") == 1, done.stderr
    assert "resuming: 3 rows" in done.stderr
    assert done.stderr.count("kept from the interrupted run") == 2
    pd.testing.assert_frame_equal(_rows(out), _rows(good))
    with np.load(labels) as npz:
        assert len(npz["labels"]) == 1797


@pytest.mark.ci
def test_a_torn_linkage_file_is_a_warning_in_report_and_rewritten_by_a_run(
    good: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mnist_bench.analyses.kselect.report import dendrogram_section

    out, cache = _copy(good, tmp_path, "out"), _cache(good, tmp_path)
    linkage = out / words.linkage_file("all", "raw")
    picture = out / words.dendrogram_file("all", "raw")
    linkage.write_bytes(linkage.read_bytes()[:50])  # torn: not a zip file any more
    picture.unlink(missing_ok=True)  # drawn again from the linkage when missing
    with caplog.at_level("WARNING"):
        assert dendrogram_section(pd.read_csv(out / words.RESULTS), out) == []
    assert "no dendrogram for raw, split all: File is not a zip file" in caplog.text
    assert not picture.exists()
    done = run_cli("run", *SMALL, "--out", str(out), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    with np.load(linkage) as npz:
        assert npz["linkage"].shape[1] == 4 and len(npz["index"]) == len(npz["labels"])


def test_a_symlink_in_a_run_folder_cannot_send_writes_outside(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(good, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(run / words.MONTAGES_DIR)
    (run / words.MONTAGES_DIR).symlink_to(elsewhere, target_is_directory=True)
    done = in_process(capsys, "report", str(run))
    assert done.returncode == 2
    assert "outside the output folder" in _one_line(done)
    assert list(elsewhere.iterdir()) == []


def test_the_results_schema_has_every_column_of_the_vocabulary() -> None:
    from mnist_bench.grid.results import REQUIRED, Row

    assert list(Row.model_fields) == list(words.COLUMNS)
    assert set(REQUIRED) <= set(words.COLUMNS)

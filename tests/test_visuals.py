"""Cluster montages and confusion heatmaps: drawn for every eval cell, linked, robust."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import lend_layouts, seed_layouts

from mnist_bench.cli import main
from mnist_bench.data import datasets
from mnist_bench.reporting import report, visuals

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, path
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("visuals")
    seed_layouts("digits")  # the 2-D map's layout (the maps are not this module's subject)
    lend_layouts(folder / "cache")
    status = main(
        [
            "run",
            "--dataset",
            "digits",
            "--features",
            "raw",
            "--backends",
            "sklearn,faiss",
            "--k",
            "9-10",
            "--eval-k",
            "10",
            "--seeds",
            "0,1",
            "--threads",
            "1",
            "--out",
            str(folder / "out"),
            "--cache-dir",
            str(folder / "cache"),
        ]
    )
    assert status == 0
    return folder / "out"


def own_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the backends' own starts (shared starts keep no labels and get no pictures)."""
    return frame[frame["init"] != "shared"]


def eval_stems(out: Path) -> list[str]:
    frame = own_rows(pd.read_csv(out / "results.csv"))
    evals = frame[frame.eval_k]
    first = evals[evals.seed == evals.seed.min()]
    return [f"{r.split}-{r.extractor}-{r.backend}-k{r.k}-seed{r.seed}" for r in first.itertuples()]


def test_every_eval_cell_has_a_montage_and_heatmap_linked(run_dir: Path) -> None:
    stems = eval_stems(run_dir)
    assert len(stems) == 2  # raw x (sklearn, faiss), first seed only
    text = (run_dir / "REPORT.md").read_text()
    assert "## Clusters at k = 10" in text
    for stem in stems:
        for folder in ("montages", "heatmaps"):
            png = run_dir / folder / f"{stem}.png"
            width, height = png_size(png)
            assert 300 <= width <= 900 and 200 <= height <= 1200, (png, width, height)
            assert png.stat().st_size < 300_000
            assert f"]({folder}/{stem}.png)" in text
    # the second seed gets no pictures
    assert not list((run_dir / "montages").glob("*seed1.png"))


def test_report_opens_with_the_summary(run_dir: Path) -> None:
    lines = (run_dir / "REPORT.md").read_text().splitlines()
    summary = lines.index(next(line for line in lines if line.startswith("## Summary")))
    assert summary <= 4  # title, one context line, then the summary
    first_screen = "\n".join(lines[:40])
    assert "| metric" in first_screen and "± " in first_screen  # best cells and mean ± std
    assert lines.index("## Run environment") > lines.index("## Runtime")


def test_report_redraws_missing_pictures(run_dir: Path, cli) -> None:
    shutil.rmtree(run_dir / "montages")
    stale = run_dir / "heatmaps" / f"{eval_stems(run_dir)[0]}.png"
    stale.write_bytes(b"old")
    labels = run_dir / "labels" / stale.name.replace(".png", ".npz")
    labels.touch()
    os.utime(stale, (0, 0))  # older than its labels file
    done = cli("report", str(run_dir))
    assert done.returncode == 0, done.stderr
    for stem in eval_stems(run_dir):
        png_size(run_dir / "montages" / f"{stem}.png")
    png_size(stale)  # redrawn: a PNG again


def test_report_without_labels_omits_the_links(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-run"
    old.mkdir()
    for name in ("results.csv", "environment.json"):
        shutil.copy(run_dir / name, old / name)
    report.render(old)
    text = (old / "REPORT.md").read_text()
    assert "montages/" not in text and "## Clusters" not in text
    assert not (old / "montages").exists()


def test_pictures_without_labels_stay_linked(run_dir: Path, tmp_path: Path) -> None:
    committed = tmp_path / "committed"  # e.g. a committed run without its labels/
    shutil.copytree(run_dir, committed, ignore=shutil.ignore_patterns("labels"))
    report.render(committed)
    text = (committed / "REPORT.md").read_text()
    for stem in eval_stems(run_dir):
        assert f"](montages/{stem}.png)" in text and f"](heatmaps/{stem}.png)" in text


def test_unloadable_dataset_leaves_the_links_out(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "moved"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("montages", "heatmaps"))
    env = json.loads((copy / "environment.json").read_text())
    env["dataset"]["checksum"] = "0000000000000000"  # the data changed since the run
    (copy / "environment.json").write_text(json.dumps(env))
    report.render(copy)
    assert "## Clusters" not in (copy / "REPORT.md").read_text()


def test_tiny_and_empty_clusters_do_not_crash(tmp_path: Path) -> None:
    ds = datasets.load("digits")
    rng = np.random.default_rng(0)
    index = rng.choice(len(ds), size=60, replace=False)
    y = ds.labels[index]
    k = 12
    labels = rng.integers(3, k, size=len(index))  # clusters 3..11: a few images each
    labels[0] = 0  # cluster 0: one image; clusters 1 and 2: empty
    classes = np.unique(ds.labels)
    montage, heatmap = tmp_path / "m.png", tmp_path / "h.png"
    visuals.draw_montage(ds.images[index], y, labels, k, classes, montage, "tiny", n_samples=12)
    visuals.draw_heatmap(y, labels, k, classes, heatmap, "tiny")
    assert png_size(montage)[0] <= 900 and png_size(heatmap)[0] <= 900


def test_hungarian_order_puts_each_digits_cluster_in_its_column() -> None:
    y = np.repeat(np.arange(3), 10)
    perm = np.array([2, 0, 1])  # digit d -> cluster perm[d]
    labels = perm[y].copy()
    labels[:2] = 3  # an extra cluster (k > digits) holding two zeros
    table = visuals.confusion(y, labels, 4, np.arange(3))
    order, matched = visuals.hungarian_order(table)
    assert order == [2, 0, 1, 3]
    assert matched == {2: 0, 0: 1, 1: 2}
    assert table.sum() == 30 and table[0, 3] == 2


def test_heatmap_matching_agrees_with_results_csv(run_dir: Path) -> None:
    """The confusion table drawn from labels/*.npz gives the acc and purity of results.csv."""
    frame = own_rows(pd.read_csv(run_dir / "results.csv"))
    ds = datasets.load("digits")
    for cell in visuals.eval_cells(frame):
        with np.load(cell.labels(run_dir)) as npz:
            y, labels = ds.labels[npz["index"]], npz["labels"]
        table = visuals.confusion(y, labels, cell.k, np.unique(ds.labels))
        order, matched = visuals.hungarian_order(table)
        assert sorted(order) == list(range(cell.k))
        row = frame[
            (frame.extractor == cell.extractor)
            & (frame.backend == cell.backend)
            & (frame.k == cell.k)
            & (frame.seed == cell.seed)
        ].iloc[0]
        acc = sum(table[r, c] for c, r in matched.items()) / table.sum()
        purity = table.max(axis=0).sum() / table.sum()
        assert acc == pytest.approx(row.acc)
        assert purity == pytest.approx(row.purity)

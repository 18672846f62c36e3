"""``mnist-bench export``: typed columns, one file, the cached features back row for row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_bench.cli import main
from mnist_bench.core import numerics
from mnist_bench.core.cache import Cache
from mnist_bench.data import datasets
from mnist_bench.grid.extraction import extract
from mnist_bench.reporting import export


@pytest.mark.parametrize("fmt", ["parquet", "csv", "npz"])
def test_export_round_trips_the_cached_features(
    fmt: str, tmp_path: Path, cache_dir: Path, cli, monkeypatch
) -> None:
    out = tmp_path / "out" / f"raw.{fmt}"
    done = cli(
        "export",
        "--features",
        "raw",
        "--dataset",
        "digits",
        "--format",
        fmt,
        "--out",
        str(out),
        "--cache-dir",
        str(cache_dir),
    )
    assert done.returncode == 0, done.stderr
    assert "1,797 images x 64 raw features (computed and cached)" in done.stdout
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left

    # the cache keys name the kernels: look the entry up as the command (pinned) computed it
    monkeypatch.setattr(numerics, "_STATE", numerics._STATE)
    numerics.pin(numerics.PORTABLE, environ={}, modules={})
    ds = datasets.load("digits")
    cached = extract(ds, [("raw", {})], Cache(cache_dir))
    assert cached.cached  # the export filled the run's cache
    head, X = export.read(out)
    assert X.dtype == np.float32 and X.shape == (1797, 64)
    np.testing.assert_array_equal(X, cached.X)  # bit for bit, row for row
    np.testing.assert_array_equal(head["index"].to_numpy(), np.arange(1797))
    np.testing.assert_array_equal(head["label"].to_numpy(), ds.labels)
    np.testing.assert_array_equal(head["split"].to_numpy(), np.where(ds.is_train, "train", "test"))


def test_typed_columns(tmp_path: Path, cache_dir: Path) -> None:
    for fmt in ("parquet", "csv"):
        out = tmp_path / f"raw.{fmt}"  # the format from the suffix
        args = ["export", "--features", "raw", "--dataset", "digits", "--limit", "500"]
        assert main([*args, "--out", str(out), "--cache-dir", str(cache_dir)]) == 0
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "raw.parquet")
    assert schema.names == ["index", "split", "label", *[f"f{i}" for i in range(64)]]
    assert str(schema.field("index").type) == "int64" and str(schema.field("label").type) == "int64"
    assert {str(schema.field(f"f{i}").type) for i in range(64)} == {"float"}  # float32
    meta = json.loads(schema.metadata[b"mnist_bench"])
    assert meta["extractor"] == "raw" and meta["n_images"] == 500 and meta["limit"] == 500

    csv = pd.read_csv(tmp_path / "raw.csv")
    assert list(csv.columns[:3]) == ["index", "split", "label"] and len(csv) == 500
    assert set(csv["split"]) == {"train", "test"}
    parquet = pd.read_parquet(tmp_path / "raw.parquet")
    np.testing.assert_array_equal(
        csv.filter(like="f").to_numpy(np.float32), parquet.filter(like="f").to_numpy()
    )


def test_mnist_subset_reads_the_features_a_run_cached(tmp_path: Path, cache_dir: Path) -> None:
    ds = datasets.load("mnist", 2000)
    first = extract(ds, [("hog", {})], Cache(cache_dir))  # what `mnist-bench run` caches
    out = tmp_path / "hog.npz"
    meta = export.export("hog", out, dataset="mnist", limit=2000, cache_dir=cache_dir)
    assert meta["from_cache"] and meta["feature_dim"] == 324
    with np.load(out, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["features"], first.X)
        np.testing.assert_array_equal(npz["label"], ds.labels)
        assert json.loads(str(npz["meta"]))["dataset_checksum"] == ds.checksum


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "nope", "--out", "x.npz"], "unknown extractor 'nope'"),
        (["--features", "raw", "--out", "x.txt"], "cannot tell the format"),
        (["--features", "raw", "--format", "xml", "--out", "x.npz"], "unknown format 'xml'"),
        (["--features", "raw", "--limit", "3", "--out", "x.npz"], "--limit 3 is out of range"),
        (["--out", "x.npz"], "--features"),
    ],
)
def test_user_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    full = ["export", "--dataset", "digits", "--cache-dir", str(tmp_path / "c"), *out_args]
    assert main(full) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not list(tmp_path.glob("x.*"))

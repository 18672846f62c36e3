"""Datasets: MNIST content checks, refusal of damaged files, stratified subsets, digits."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_bench.core.errors import UserError
from mnist_bench.data import datasets

MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist() -> datasets.Dataset:
    return datasets.load("mnist")


def test_mnist_all_splits(mnist: datasets.Dataset) -> None:
    assert mnist.images.shape == (70000, 28, 28)
    assert mnist.images.dtype == np.uint8
    assert mnist.mask("all").sum() == 70000
    assert mnist.mask("train").sum() == 60000
    assert mnist.mask("test").sum() == 10000
    assert np.bincount(mnist.labels[mnist.is_train]).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.labels[~mnist.is_train]).tolist() == TEST_COUNTS
    assert np.bincount(mnist.labels).max() == 7877  # digit 1: the k=1 purity numerator


def test_limit_is_stratified_and_deterministic(mnist: datasets.Dataset) -> None:
    a = mnist.subset(1000)
    b = datasets.load("mnist", limit=1000)
    assert len(a) == 1000
    np.testing.assert_array_equal(a.images, b.images)
    assert a.checksum == b.checksum != mnist.checksum
    expected = np.bincount(mnist.labels) * 1000 / 70000
    assert np.all(np.abs(np.bincount(a.labels) - expected) < 1)
    assert datasets.load("mnist", limit=2000).checksum != a.checksum


@pytest.mark.parametrize("limit", [5, 70001])
def test_limit_out_of_range(mnist: datasets.Dataset, limit: int) -> None:
    with pytest.raises(UserError, match="between 10"):
        mnist.subset(limit)


def test_unknown_dataset_lists_known() -> None:
    with pytest.raises(UserError, match=r"known: .*digits.*mnist"):
        datasets.load("fashion")


def test_digits() -> None:
    ds = datasets.load("digits")
    assert ds.images.shape == (1797, 8, 8)
    assert ds.images.max() == 255
    assert 0.75 < ds.is_train.mean() < 0.85
    assert ds.n_classes == 10


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "mnist"
    shutil.copytree(MNIST, dest)
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


def _load_from(folder: Path, monkeypatch: pytest.MonkeyPatch) -> datasets.Dataset:
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    return datasets.load("mnist")


def test_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(_load_from(_copy(tmp_path), monkeypatch)) == 70000


def _rewrite(path: Path, change) -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    change(raw)
    path.write_bytes(gzip.compress(bytes(raw)))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("flip", "failed its checksum"),
        ("truncate", "corrupted or truncated"),
        ("missing", "missing"),
        ("magic", "failed its checksum"),
    ],
)
def test_damaged_file_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, message: str
) -> None:
    folder = _copy(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    if damage == "flip":
        _rewrite(target, lambda raw: raw.__setitem__(100, raw[100] ^ 0xFF))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:1000])
    elif damage == "missing":
        target.unlink()
    else:
        _rewrite(target, lambda raw: raw.__setitem__(3, 0x03))
    with pytest.raises(UserError, match=message) as info:
        _load_from(folder, monkeypatch)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


def test_wrong_magic_with_matching_checksum_is_refused(tmp_path: Path) -> None:
    # A file whose checksum was (wrongly) updated still fails on its header.
    path = tmp_path / "x.gz"
    raw = b"\x00\x00\x08\x03" + (1).to_bytes(4, "big") + b"\x07"
    path.write_bytes(gzip.compress(raw))
    import hashlib

    with pytest.raises(UserError, match="IDX magic"):
        datasets.read_idx(path, hashlib.sha256(raw).hexdigest(), 0x00000801)


def test_the_shipped_mnist_is_found_from_any_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert datasets.mnist_dir() == Path(__file__).resolve().parents[1] / "data" / "mnist"

"""The ``scale`` dataset: deterministic per seed, chunk-order independent, bounded in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_bench.data import datasets, scale


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    return np.ascontiguousarray(datasets.load_mnist().images)


def test_same_seed_same_images_other_seed_other_images(tmp_path: Path) -> None:
    a = scale.load_scale(1000, cache_dir=tmp_path / "a", threads=1)
    b = scale.load_scale(1000, cache_dir=tmp_path / "b", threads=1)
    c = scale.load_scale(1000, cache_dir=tmp_path / "c", seed=1, threads=1)
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.checksum == b.checksum
    assert c.checksum != a.checksum
    assert (np.asarray(a.images) != np.asarray(c.images)).any(axis=(1, 2)).mean() > 0.99
    assert not np.array_equal(a.labels, c.labels)  # the source order is seeded too


def test_dataset_shape_labels_and_split(tmp_path: Path) -> None:
    ds = scale.load_scale(5000, cache_dir=tmp_path, threads=1)
    assert ds.name == "scale" and len(ds) == 5000
    assert ds.images.shape == (5000, 28, 28) and ds.images.dtype == np.uint8
    assert isinstance(ds.images, np.memmap)
    assert ds.labels.dtype == np.int64 and set(np.unique(ds.labels)) == set(range(10))
    # One seventh comes from MNIST's test images and is held out.
    assert abs((~ds.is_train).mean() - 1 / 7) < 0.02
    mnist = datasets.load_mnist()
    src = scale.source_indices(5000, 70_000, 0)
    np.testing.assert_array_equal(ds.labels, mnist.labels[src])
    # Deformed, but still the same digit: close to the source, not equal to it.
    imgs = np.asarray(ds.images, dtype=np.float32)
    mean_abs = np.abs(imgs - mnist.images[src]).mean()
    assert 5 < mean_abs < 60
    assert abs(imgs.mean() - mnist.images[src].mean()) < 5


def test_checksum_covers_n_and_reuses_the_file(tmp_path: Path) -> None:
    small = scale.load_scale(100, cache_dir=tmp_path, threads=1)
    big = scale.load_scale(5000, cache_dir=tmp_path, threads=1)
    assert small.checksum != big.checksum
    # A smaller N is a prefix of a larger one (chunks are seeded by their index, not by N).
    np.testing.assert_array_equal(np.asarray(small.images), np.asarray(big.images[:100]))
    files = sorted(p.name for p in (tmp_path / "datasets").glob("*.npy"))
    assert len(files) == 2
    again = scale.load_scale(5000, cache_dir=tmp_path, threads=1)
    assert again.checksum == big.checksum
    assert len(list((tmp_path / "datasets").glob("*.npy"))) == 2


def test_chunks_are_independent_of_order(pool: np.ndarray) -> None:
    order = scale.source_order(len(pool), 0)
    forward = [scale.generate_chunk(pool, order, c, 0) for c in range(3)]
    backward = [scale.generate_chunk(pool, order, c, 0) for c in (2, 1, 0)][::-1]
    for f, b in zip(forward, backward, strict=True):
        np.testing.assert_array_equal(f, b)
    assert not np.array_equal(forward[0], forward[1])


def test_parallel_generation_equals_serial(tmp_path: Path) -> None:
    n = scale.CHUNK * 2 + 10
    serial = scale.load_scale(n, cache_dir=tmp_path / "serial", threads=1)
    parallel = scale.load_scale(n, cache_dir=tmp_path / "parallel", threads=2)
    np.testing.assert_array_equal(np.asarray(serial.images), np.asarray(parallel.images))


def test_registered_and_limit_means_size(tmp_path: Path) -> None:
    ds = datasets.load("scale", 300, cache_dir=tmp_path)
    assert len(ds) == 300 and ds.name == "scale"
    assert "scale" in datasets.DATASETS


def test_chunked_extraction_equals_whole(pool: np.ndarray) -> None:
    from mnist_bench import features
    from mnist_bench.grid.chunks import transform_blocks

    images = pool[:2500]
    hog = features.make("hog").fit(images)
    whole = hog.transform(images)
    serial = np.concatenate(list(transform_blocks(hog, images, threads=1, block=1000)))
    parallel = np.concatenate(list(transform_blocks(hog, images, threads=2, block=1000)))
    np.testing.assert_array_equal(serial, whole)
    np.testing.assert_array_equal(parallel, whole)


def test_cache_array_blocks_streams_to_disk(tmp_path: Path) -> None:
    from mnist_bench.core.cache import Cache

    cache = Cache(tmp_path)
    data = np.arange(60, dtype=np.float32).reshape(20, 3)

    def compute() -> tuple[object, int, dict[str, object]]:
        meta: dict[str, object] = {}

        def blocks():  # type: ignore[no-untyped-def]
            for start in range(0, 20, 7):
                yield data[start : start + 7]
            meta["done"] = True

        return blocks(), 20, meta

    X, meta, cached = cache.array_blocks("k1", compute)
    assert not cached and meta["done"] is True and meta["shape"] == [20, 3]
    np.testing.assert_array_equal(X, data)
    X2, meta2, cached2 = cache.array_blocks("k1", compute)
    assert cached2 and meta2["sha256"] == meta["sha256"]
    np.testing.assert_array_equal(X2, data)

    def short() -> tuple[object, int, dict[str, object]]:
        return iter([data[:5]]), 20, {}

    with pytest.raises(RuntimeError, match="5 rows"):
        cache.array_blocks("k2", short)
    assert not list((tmp_path / "features").glob("k2.npy"))
    assert not list((tmp_path / "features").glob(".k2*.tmp"))

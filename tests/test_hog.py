"""The vectorised HOG equals skimage.feature.hog image by image."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from benchmarks.datasets import load
from features import make


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    ds = load("mnist", limit=200)
    return ds.images


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"orientations": 8, "pixels_per_cell": 4, "cells_per_block": 3, "block_norm": "L1"},
        {"orientations": 12, "pixels_per_cell": 5, "cells_per_block": 1, "block_norm": "L2"},
        {"orientations": 6, "pixels_per_cell": 6, "cells_per_block": 2, "block_norm": "L1-sqrt"},
    ],
)
def test_equals_skimage(images: np.ndarray, params: dict) -> None:
    extractor = make("hog", **params)
    ours = extractor.fit(images).transform(images)
    p = extractor.get_params()
    for i in range(0, len(images), 7):
        ref = hog(
            images[i].astype(np.float64) / 255,
            orientations=p["orientations"],
            pixels_per_cell=(p["pixels_per_cell"],) * 2,
            cells_per_block=(p["cells_per_block"],) * 2,
            block_norm=p["block_norm"],
        )
        assert ours[i].shape == ref.shape
        np.testing.assert_allclose(ours[i], ref, atol=1e-5)


def test_default_is_324_float32(images: np.ndarray) -> None:
    out = make("hog").transform(images[:5])
    assert out.shape == (5, 324)
    assert out.dtype == np.float32


def test_blank_image_gives_zeros() -> None:
    out = make("hog").transform(np.zeros((2, 28, 28), dtype=np.uint8))
    assert not out.any()


def test_bad_block_norm_is_refused() -> None:
    with pytest.raises(ValueError, match="block_norm"):
        make("hog", block_norm="L3").fit(np.zeros((1, 28, 28), dtype=np.uint8))

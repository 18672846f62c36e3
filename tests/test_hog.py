"""The vectorised HOG equals skimage.feature.hog image by image; its parameter and size checks."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from mnist_bench.data.datasets import load
from mnist_bench.features import make


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
    extractor = make("hog").fit(images[:5])
    out = extractor.transform(images[:5])
    assert out.shape == (5, 324) and extractor.n_features_out_ == 324
    assert out.dtype == np.float32
    # flat rows [n, 784] are read as 28x28 images
    np.testing.assert_array_equal(extractor.transform(images[:5].reshape(5, -1)), out)


def test_features_do_not_depend_on_the_batch(images: np.ndarray) -> None:
    extractor = make("hog").fit(images)
    whole = extractor.transform(images)
    parts = np.concatenate([extractor.transform(images[i : i + 33]) for i in range(0, 200, 33)])
    np.testing.assert_array_equal(whole, parts)


def test_blank_image_gives_zeros() -> None:
    out = make("hog").fit_transform(np.zeros((2, 28, 28), dtype=np.uint8))
    assert not out.any()


def test_transform_needs_fit(images: np.ndarray) -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make("hog").transform(images[:2])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"block_norm": "L3"}, r"'block_norm' parameter of HOG must be a str among .*'L2-Hys'"),
        ({"orientations": 0}, r"'orientations' parameter of HOG must be an int in the range"),
        ({"pixels_per_cell": "7"}, r"'pixels_per_cell' parameter of HOG must be an int"),
        ({"cells_per_block": 1.5}, r"'cells_per_block' parameter of HOG must be an int"),
    ],
)
def test_bad_parameters_are_refused_by_fit(params: dict, message: str) -> None:
    extractor = make("hog", **params)  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        extractor.fit(np.zeros((1, 28, 28), dtype=np.uint8))


def test_images_smaller_than_one_block_are_refused_by_fit() -> None:
    # 4 x 4 pixels per cell x 4 cells per block = 16 pixels a side
    extractor = make("hog", pixels_per_cell=4, cells_per_block=4)
    with pytest.raises(ValueError, match=r"hog: images of 15x28 pixels are smaller than one block"):
        extractor.fit(np.zeros((1, 15, 28), dtype=np.uint8))
    assert extractor.fit(np.zeros((1, 16, 16), dtype=np.uint8)).n_features_out_ == 16 * 9

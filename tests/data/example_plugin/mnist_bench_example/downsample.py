"""``downsample``: images average-pooled by ``factor`` (an example extractor plug-in)."""

from __future__ import annotations

import numpy as np

from mnist_bench.features.base import BaseExtractor


class Downsample(BaseExtractor):
    """Mean of each ``factor`` x ``factor`` pixel block, flattened (28x28 -> 14x14 for 2)."""

    version = "1"  # bump when the same parameters would give different features
    supervised = False  # fit never sees the labels
    requires = ("numpy",)  # distributions whose versions change the features (cache key)

    def __init__(self, *, factor: int = 2) -> None:
        self.factor = factor  # scikit-learn: store the parameters unchanged, validate in fit

    def _fit(self, images: np.ndarray, y: object = None, **fit_params: object) -> None:
        if not isinstance(self.factor, int | np.integer) or self.factor < 1:
            raise ValueError(f"factor must be a positive integer, got {self.factor!r}")

    def _transform(self, images: np.ndarray) -> np.ndarray:
        f = self.factor
        n, h, w = images.shape
        # repeat the last row/column so both sides divide by f, then average each block
        padded = np.pad(images, ((0, 0), (0, -h % f), (0, -w % f)), mode="edge")
        blocks = padded.reshape(n, padded.shape[1] // f, f, padded.shape[2] // f, f)
        return blocks.mean(axis=(2, 4), dtype=np.float64).reshape(n, -1)

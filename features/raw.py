"""``raw``: the pixels themselves, scaled to [0, 1] as float32."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mnist_bench.features.base import BaseExtractor


class Raw(BaseExtractor):
    """Flattened pixels divided by 255 (784-d for 28x28 MNIST).

    Takes images ``[n, h, w]`` or flat rows ``[n, d]``; nothing to learn (``fit`` only records
    the input's shape). No parameters.
    """

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("numpy",)
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    def __init__(self) -> None:
        pass

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """A block of images at a time (the grid transforms 8,192 at a time)."""
        return min(n, 8192) * int(np.prod(image_shape)) * 8

    def _transform(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(len(images), -1)
        return flat.astype(np.float32) / np.float32(255.0)

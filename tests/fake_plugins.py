"""Plug-ins that misbehave on purpose, registered only by the tests that need them."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mnist_bench.features.base import BaseExtractor


class NaNExtractor(BaseExtractor):
    """Returns NaN for every other image."""

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        pass

    def _transform(self, images: np.ndarray) -> np.ndarray:
        out = images.reshape(len(images), -1).astype(np.float32)
        out[::2, 0] = np.nan
        return out

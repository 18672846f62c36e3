"""``raw``: the pixels themselves, scaled to [0, 1] as float32."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.params import ParamsMixin


class Raw(ParamsMixin):
    """Flattened pixels divided by 255 (784-d for 28x28 MNIST)."""

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("numpy",)

    def __init__(self) -> None:
        pass

    def fit(self, images: np.ndarray, labels: np.ndarray | None = None) -> Raw:
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(len(images), -1)
        return flat.astype(np.float32) / np.float32(255.0)

"""``pca``: principal components of the pixels, fitted without labels on the images clustered."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_bench.core.params import Interval
from mnist_bench.core.system import usable_cores
from mnist_bench.features.base import BaseExtractor, as_float_rows


class PCA(BaseExtractor):
    """Principal components of the pixels (default 50), label-free, fitted on the images clustered.

    scikit-learn's ``PCA`` on pixels / 255 (or on the float features of a previous chain step):
    ``n_components`` components, optionally whitened; ``seed`` seeds the randomized solver when
    scikit-learn picks it; ``threads`` pins BLAS (0: all usable cores), so the components are the
    same on every run with the same thread count.
    """

    version: ClassVar[str] = "2"  # 2: the transform in float64
    requires: ClassVar[tuple[str, ...]] = ("scikit-learn", "numpy", "scipy")
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "whiten": ["boolean"],
        "seed": [Interval(Integral, 0, 2**32 - 1, closed="both")],
        "threads": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self, *, n_components: int = 50, whiten: bool = False, seed: int = 0, threads: int = 0
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.seed = seed
        self.threads = threads

    def check_data(self, n_images: int, image_shape: tuple[int, int]) -> None:
        """No more components than images or than pixels (features) per image."""
        most = min(n_images, int(np.prod(image_shape)))
        if self.n_components > most:
            raise ValueError(
                f"n_components={self.n_components} must be <= min(n_samples, n_features) = {most}"
            )

    def _fit(self, images: np.ndarray, y: Any = None, **fit_params: Any) -> None:
        from sklearn.decomposition import PCA as SkPCA

        X = as_float_rows(images)
        with threadpool_limits(limits=self.threads or usable_cores()):
            self.pca_ = SkPCA(self.n_components, whiten=self.whiten, random_state=self.seed).fit(X)

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        return int(self.n_components)

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """The float32 rows and scikit-learn's centred copy of them; the covariance matrix (a
        block's float64 copy for the transform is smaller than the centred copy)."""
        p = int(np.prod(image_shape))
        return 2 * n * p * 4 + p * p * 16

    def _transform(self, images: np.ndarray) -> np.ndarray:
        # in float64, rounded to float32 once: a row's features then do not depend on where it
        # falls in BLAS' blocks (in float32 they differed by an ulp with the row order, on some
        # kernel sets)
        rows = as_float_rows(images).astype(np.float64)
        with threadpool_limits(limits=self.threads or usable_cores()):
            return self.pca_.transform(rows).astype(np.float32)

"""``umap``: a UMAP embedding of the images clustered (umap-learn), label-free and seeded."""

from __future__ import annotations

import sys
import warnings
from numbers import Integral, Real
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from mnist_bench.core.params import Interval, StrOptions
from mnist_bench.core.system import usable_cores
from mnist_bench.core.vocabulary import MAX_SEED
from mnist_bench.features.base import BaseExtractor, as_float_rows, as_images


class UMAP(BaseExtractor):
    """UMAP embedding (20 neighbours, min_dist 0, 10-d), seeded: the same features on every run.

    umap-learn's ``UMAP`` on pixels / 255 (or on the features of a previous chain step). UMAP is
    transductive: the features of the images it was fitted on are its embedding of them
    (``fit_transform``); ``transform`` places new images into that embedding.

    With ``parallel = false`` (default) UMAP is seeded with ``seed`` and runs on one thread, so the
    embedding is identical on every run. ``parallel = true`` uses ``threads`` threads (0: all
    usable cores) and no seed: faster, but not reproducible (recorded as non-deterministic).
    """

    version: ClassVar[str] = "1"
    transductive: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("umap-learn", "pynndescent", "numba", "numpy")
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "manhattan", "cosine", "correlation", "chebyshev"})],
        "seed": [Interval(Integral, 0, MAX_SEED, closed="both")],
        "parallel": ["boolean"],
        "threads": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_neighbors: int = 20,
        min_dist: float = 0.0,
        n_components: int = 10,
        metric: str = "euclidean",
        seed: int = 0,
        parallel: bool = False,
        threads: int = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_components = n_components
        self.metric = metric
        self.seed = seed
        self.parallel = parallel
        self.threads = threads

    @property
    def deterministic(self) -> bool:
        return not self.parallel

    def check_data(self, n_images: int, image_shape: tuple[int, int]) -> None:
        """More images than neighbours."""
        if n_images <= self.n_neighbors:
            raise ValueError(f"n_neighbors={self.n_neighbors} needs more than {n_images} images")

    def _fit(self, images: np.ndarray, y: Any = None, **fit_params: Any) -> None:
        umap = umap_module()
        X = as_float_rows(images)
        self.umap_ = umap.UMAP(
            n_neighbors=self.n_neighbors,
            min_dist=self.min_dist,
            n_components=self.n_components,
            metric=self.metric,
            random_state=None if self.parallel else self.seed,
            transform_seed=self.seed,
            n_jobs=(self.threads or usable_cores()) if self.parallel else 1,
            verbose=False,
        ).fit(X)
        self.embedding_ = np.ascontiguousarray(self.umap_.embedding_, dtype=np.float32)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """The embedding of the images ``X`` themselves (not a re-projection of them)."""
        self.fit(as_images(X), y, **fit_params)
        return self.embedding_

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        return int(self.n_components)

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """umap-learn's import (it loads TensorFlow) and numba's compiled code, about 800 MB;
        the float32 rows and a copy; the neighbour graph (indices, distances, the fuzzy set)
        at about 100 bytes per neighbour (measured: 1.4 GB for 70,000 x 784, 20 neighbours)."""
        p = int(np.prod(image_shape))
        return 800 * 2**20 + n * p * 8 + n * int(self.n_neighbors) * 100

    def _transform(self, images: np.ndarray) -> np.ndarray:
        return self.umap_.transform(as_float_rows(images))


def umap_module() -> ModuleType:
    """umap-learn, imported without its ParametricUMAP.

    ``import umap`` also imports ``umap.parametric_umap``, which loads TensorFlow: about 6 s and
    1 GB of a process that clusters nothing with a CNN. With that submodule marked absent
    during the import, umap-learn falls back to its placeholder class (its own behaviour
    without TensorFlow); the mark is lifted afterwards, so ``umap.parametric_umap`` can still be
    imported explicitly.
    """
    if "umap" not in sys.modules:
        marked = "umap.parametric_umap" not in sys.modules
        if marked:
            sys.modules["umap.parametric_umap"] = None  # type: ignore[assignment]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ImportWarning)
                import umap  # noqa: F401
        finally:
            if marked and sys.modules.get("umap.parametric_umap") is None:
                del sys.modules["umap.parametric_umap"]
    return sys.modules["umap"]

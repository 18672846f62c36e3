"""The extractor protocol: a scikit-learn style transformer from uint8 images to float32 rows."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Extractor(Protocol):
    """What every feature extractor provides.

    ``__init__`` takes keyword parameters and only stores them; :meth:`get_params` returns them
    all, so a cache key and a report row can be built from it. ``version`` names the code's
    behaviour: bump it whenever the same parameters would give different features.
    ``requires`` lists the distributions whose versions change the features (part of the cache
    key). ``supervised`` extractors learn from labels in :meth:`fit` and follow
    :class:`SupervisedExtractor`; the grid then also clusters the held-out ``test`` split.
    """

    version: ClassVar[str]
    supervised: ClassVar[bool]
    requires: ClassVar[tuple[str, ...]]

    def get_params(self) -> dict[str, Any]: ...

    def fit(self, images: np.ndarray, labels: np.ndarray | None = None) -> Extractor:
        """Learn what the extractor needs from ``images`` (a no-op for fixed transforms)."""
        ...

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Map uint8 images ``[n, h, w]`` to float32 features ``[n, d]``."""
        ...


@runtime_checkable
class SupervisedExtractor(Extractor, Protocol):
    """An extractor trained on labelled images (a CNN): ``fit`` needs labels and a cache.

    ``fit(images, labels, cache=...)`` trains (or loads the trained model from ``cache``, a
    :class:`benchmarks.cache.Cache`), and :meth:`score` reports its classification accuracy.
    """

    def fit(  # type: ignore[override]
        self, images: np.ndarray, labels: np.ndarray | None = None, *, cache: Any = None
    ) -> SupervisedExtractor: ...

    def score(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Classification accuracy on labelled ``images``."""
        ...

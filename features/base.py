"""What an extractor is: a scikit-learn transformer from images to float32 feature rows.

:class:`BaseExtractor` is the class to derive from (``TransformerMixin`` + ``BaseEstimator``, so
``clone``, ``get_params``/``set_params``, ``fit_transform`` and Pipelines work); it validates the
input once and leaves two methods to a subclass: :meth:`BaseExtractor._fit` (learn from the
images, when there is anything to learn) and :meth:`BaseExtractor._transform`. :class:`Extractor`
is the typed protocol the grid relies on, which an outside plug-in may also meet on its own.
Before any work the grid asks each extractor the length of its feature rows
(:meth:`BaseExtractor.feature_dim`) and the memory it takes (:meth:`BaseExtractor.memory_bytes`),
to refuse a grid that cannot fit in the memory available.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from mnist_bench.core.params import ChecksBooleans


@runtime_checkable
class Extractor(Protocol):
    """What the grid needs of an extractor.

    ``version`` names the code's behaviour: bump it whenever the same parameters would give
    different features. ``requires`` lists the distributions whose versions change the features
    (part of the cache key). ``supervised`` extractors learn from labels in ``fit`` and the grid
    then also clusters the held-out ``test`` split.
    """

    version: ClassVar[str]
    supervised: ClassVar[bool]
    requires: ClassVar[tuple[str, ...]]
    #: the same parameters give the same features on every run (see :class:`BaseExtractor`)
    deterministic: bool
    #: ``fit`` takes ``cache=`` and keeps a trained model there
    uses_cache: ClassVar[bool]
    #: the features of the fitted images are ``fit_transform``'s, not ``transform``'s
    transductive: ClassVar[bool]

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def fit(self, X: np.ndarray, y: np.ndarray | None = None, **fit_params: Any) -> Any:
        """Learn what the extractor needs from images ``X`` (labels ``y`` only if supervised)."""
        ...

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map images ``[n, h, w]`` (or flat rows ``[n, h*w]``) to float32 features ``[n, d]``."""
        ...

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        """The length ``d`` of the feature rows of images of ``image_shape``, before fitting."""
        ...

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """Working memory of fitting on and transforming ``n`` images (see the base class)."""
        ...


@runtime_checkable
class SupervisedExtractor(Extractor, Protocol):
    """An extractor trained on labelled images (a CNN).

    ``fit(X, y, cache=...)`` trains, or loads the model trained on the same data from ``cache``
    (a :class:`mnist_bench.core.cache.Cache`); :meth:`score` is its classification accuracy.
    """

    def score(self, X: np.ndarray, y: np.ndarray) -> float: ...


def as_images(X: Any) -> np.ndarray:
    """Validate ``X`` and return it as images ``[n, h, w]``, without copying when possible.

    Accepts images ``[n, h, w]`` or flat rows ``[n, d]``: square ``d`` become ``sqrt(d)``-sided
    images, other ``d`` one-row images ``[n, 1, d]``. Sparse, non-numeric, empty, NaN or
    infinite input is refused with scikit-learn's errors.
    """
    X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=True)
    if X.ndim == 3:
        return X
    if X.ndim != 2:
        raise ValueError(f"expected images [n, h, w] or rows [n, d], got shape {X.shape}")
    return X.reshape(len(X), *rows_shape(X.shape[1]))


def rows_shape(d: int) -> tuple[int, int]:
    """The image shape flat rows of ``d`` values are read as: square when ``d`` is, else 1 x d."""
    side = math.isqrt(d)
    return (side, side) if side * side == d else (1, d)


def as_float_rows(images: np.ndarray) -> np.ndarray:
    """Images as float32 rows ``[n, h*w]``: integer pixels scaled to [0, 1], floats as they are.

    So a learned extractor sees pixels / 255 when it is a chain's first step and the previous
    step's features otherwise.
    """
    rows = np.asarray(images).reshape(len(images), -1)
    if np.issubdtype(rows.dtype, np.integer):
        return rows.astype(np.float32) / np.float32(255.0)
    return rows.astype(np.float32, copy=False)


class BaseExtractor(ChecksBooleans, TransformerMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the built-in extractors (an outside plug-in may derive from it too).

    ``__init__`` takes keyword parameters and only stores them; ``_parameter_constraints``
    declares what each parameter may be (scikit-learn's ``sklearn.utils._param_validation``
    constraints), checked at the start of :meth:`fit`, which raises
    ``sklearn.utils._param_validation.InvalidParameterError`` (a ``ValueError``) naming the
    parameter, its value and what is allowed. Fitted attributes: ``n_features_in_`` (pixels per
    image) and ``image_shape_``. The features are float32 whatever the input's dtype.
    """

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("numpy",)
    #: the same parameters (seed and thread count included) give the same features bit for bit
    deterministic: ClassVar[bool] = True
    #: ``fit`` takes ``cache=`` (a :class:`mnist_bench.core.cache.Cache`) to keep what it trains
    uses_cache: ClassVar[bool] = False
    #: the features are the embedding of the images fitted on (``fit_transform``), no
    #: ``transform`` of new images
    transductive: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images [n, h, w] as well as rows [n, h*w]
        tags.target_tags.required = self.supervised
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32 out
        return tags

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> BaseExtractor:
        """Check the parameters, validate the images and learn from them (see :meth:`_fit`).

        Returns ``self``.
        """
        self._validate_params()
        images = as_images(X)
        self.check_data(len(images), (int(images.shape[1]), int(images.shape[2])))
        self.image_shape_ = tuple(int(s) for s in images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self._fit(images, y, **fit_params)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Float32 features ``[n, d]`` of the images ``X`` (same pixel count as in ``fit``)."""
        images = self._fitted_images(X)
        return np.ascontiguousarray(self._transform(images), dtype=np.float32)

    def _fitted_images(self, X: Any) -> np.ndarray:
        """``X`` validated as images of the fitted shape (for ``transform``, ``score``...)."""
        check_is_fitted(self, "n_features_in_")
        images = as_images(X)
        n_pixels = int(np.prod(images.shape[1:]))
        if n_pixels != self.n_features_in_:
            raise ValueError(
                f"X has {n_pixels} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return images.reshape(len(images), *self.image_shape_)

    def check_data(self, n_images: int, image_shape: tuple[int, int]) -> None:
        """Refuse (ValueError) parameters that cannot work on ``n_images`` images of
        ``image_shape``: what the constraints cannot say, since it depends on the data's sizes.

        :meth:`fit` calls it first, and the grid before it makes the output folder, with the
        real number of images (a HOG block larger than the images, more PCA components than
        images). Default: nothing to refuse.
        """

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        """The length of a feature row for images of ``image_shape``, known before fitting.

        Default: one feature per pixel; an extractor with another width says so.
        """
        return int(np.prod(image_shape))

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """Estimated peak working memory (bytes) of fitting on and transforming ``n`` images of
        ``image_shape``, beyond the images and the features themselves (the grid counts those).

        Default: a float32 copy of the images, as most extractors make; an extractor that
        needs more (a model's runtime, a neighbour graph) or less says so.
        """
        return n * int(np.prod(image_shape)) * 4

    def _fit(self, images: np.ndarray, y: Any, **fit_params: Any) -> None:
        """Learn from ``images`` (validated ``[n, h, w]``); a fixed transform learns nothing."""

    @abstractmethod
    def _transform(self, images: np.ndarray) -> np.ndarray:
        """Features of validated images ``[n, h, w]`` (the base makes them float32)."""

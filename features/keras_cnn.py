"""Shared training, model cache and batched extraction for the Keras CNN extractors.

A CNN extractor (``features.lenet``, ``features.convnet``) only names its architecture, builds
its Keras model and lists the layers that may serve as features; everything else lives here:

- **Training** on exactly the images and labels :meth:`KerasCNN.fit` receives (the runner passes
  the training split only), seeded and deterministic: ``keras.utils.set_random_seed``, TensorFlow
  op determinism, fixed intra/inter-op thread counts and a seeded per-epoch shuffle. Same seed
  and thread count give identical weights and features. One progress line per epoch on stderr.
- **The model cache**: the trained model is saved in Keras format as
  ``cache.path("models", key, ".keras")``, ``key`` hashing the architecture, the training
  parameters, the seed, the thread count, the SHA-256 of the training images and labels, the
  TensorFlow and Keras versions and the kernels they run (:mod:`mnist_bench.core.numerics`; not
  ``layer``: every feature layer comes from one model). The
  entry's file lock is held while checking, training and saving; the file is written to a
  temporary ``*.keras`` sibling and renamed; a file that fails to load is discarded and retrained.
- **Extraction**: images scaled to [0, 1] float32 with a channel axis, run through the model in
  large batches; the features are the output of the layer named by ``layer``.

TensorFlow is imported inside the methods only, so importing this module (and ``mnist-bench
list``, raw and HOG runs) never loads it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from mnist_bench.core import numerics
from mnist_bench.core.atomic import atomic_path, remove
from mnist_bench.core.cache import make_key
from mnist_bench.core.params import Interval, StrOptions
from mnist_bench.core.system import say, usable_cores
from mnist_bench.core.vocabulary import MAX_SEED
from mnist_bench.features.base import BaseExtractor

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
#: images per forward pass when extracting features or scoring
PREDICT_BATCH = 2048


#: What importing and running TensorFlow and Keras takes, about (measured: 0.7 to 1 GB).
KERAS_RUNTIME_BYTES = 2**30


def import_tensorflow(threads: int) -> tuple[Any, Any, int]:
    """Import TensorFlow and Keras quietly, deterministic, with ``threads`` threads per pool.

    Returns ``(tf, keras, threads_in_effect)``. Thread counts can only be set before TensorFlow
    runs its first op; if it already runs with another count, that count stays (with a warning)
    and is the one returned, so a model cache key names the count that really trained it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised: the count below is the one in effect
    in_effect = tf.config.threading.get_intra_op_parallelism_threads() or usable_cores()
    if in_effect != threads:
        log.warning(
            "TensorFlow already runs with %d threads in this process; %d were asked for",
            in_effect,
            threads,
        )
    tf.config.experimental.enable_op_determinism()
    return tf, keras, in_effect


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 images ``[n, h, w]`` -> float32 ``[n, h, w, 1]`` in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / np.float32(255.0))[..., np.newaxis]


def data_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the training images and labels (shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(images, np.uint8), np.ascontiguousarray(labels, np.int64)):
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


#: What the training parameters of a Keras extractor (a CNN, the autoencoder) may be.
TRAINING_CONSTRAINTS: dict[str, list[Any]] = {
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "seed": [Interval(Integral, 0, MAX_SEED, closed="both")],
    "threads": [Interval(Integral, 0, None, closed="left")],
}


class KerasCNN(BaseExtractor):
    """A supervised CNN feature extractor; subclasses set ``architecture``, ``layers``, ``build``.

    Parameters
    ----------
    layer : which layer's output are the features (one of the subclass's ``layers``).
    epochs, batch_size : training length and minibatch size (integers >= 1).
    optimizer : ``"adam"`` or ``"sgd"`` (plain SGD, as the seed used).
    learning_rate : the optimizer's step size (> 0).
    seed : seeds weight initialisation, dropout and the per-epoch shuffle (an integer >= 0).
    threads : TensorFlow threads per pool; 0 = all usable cores.

    Takes images ``[n, 28, 28]`` or rows ``[n, 784]`` (pixels 0-255). Fitted attributes:
    ``model_`` (the Keras model), ``from_cache_`` (True when loaded, not trained),
    ``model_path_`` (the cached model file, None without a cache), ``train_s_``, and the base's
    ``n_features_in_`` and ``image_shape_``.
    """

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("tensorflow", "keras", "numpy")
    uses_cache: ClassVar[bool] = True  # fit(..., cache=) keeps the trained model
    architecture: ClassVar[str]
    layers: ClassVar[tuple[str, ...]]
    #: the models' input images, ``[28, 28]`` (a channel axis is added)
    input_shape: ClassVar[tuple[int, int]] = (28, 28)
    #: the width of each of ``layers`` (the length of the feature rows it gives)
    widths: ClassVar[dict[str, int]] = {}
    #: subclasses replace ``layer`` by ``StrOptions`` of their own ``layers``
    _parameter_constraints: ClassVar[dict[str, list]] = {"layer": [str], **TRAINING_CONSTRAINTS}

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        return self.widths.get(self.layer, int(np.prod(image_shape)))

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """TensorFlow's runtime (about 1 GB); the training images as float32, and a copy."""
        return KERAS_RUNTIME_BYTES + n * int(np.prod(image_shape)) * 8

    def build(self, keras: Any) -> Any:
        """The Keras model: input ``[28, 28, 1]``, layers named as in ``layers``, a softmax last."""
        raise NotImplementedError(f"{type(self).__name__} must define build()")

    # -- the estimator API ------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, *, cache: Any = None) -> KerasCNN:
        """Train on images ``X`` with labels ``y`` (or load the model trained on them from
        ``cache``, a :class:`mnist_bench.core.cache.Cache`); returns ``self``."""
        return super().fit(X, y, cache=cache)  # type: ignore[return-value]

    def score(self, X: Any, y: Any) -> float:
        """Classification accuracy of the trained model on images ``X`` with labels ``y``."""
        check_is_fitted(self, "model_")
        images = self._fitted_images(X)
        labels = np.asarray(y)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        import_tensorflow(self.threads or usable_cores())
        probabilities = self._forward(self.model_, images)
        return float(np.mean(probabilities.argmax(axis=1) == labels))

    def check_data(self, n_images: int, image_shape: tuple[int, int]) -> None:
        """The network's input shape."""
        if tuple(image_shape) != self.input_shape:
            side = "x".join(map(str, self.input_shape))
            raise ValueError(
                f"{self.architecture} takes {side} images (or rows of "
                f"{self.input_shape[0] * self.input_shape[1]} pixels), got "
                f"{'x'.join(map(str, image_shape))}"
            )

    def _fit(self, images: np.ndarray, y: Any, *, cache: Any = None) -> None:
        if y is None:
            raise ValueError(f"{self.architecture} is supervised: fit needs labels y")
        labels = np.asarray(y)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        tf, keras, threads = import_tensorflow(self.threads or usable_cores())
        self.model_, self.model_path_, self.from_cache_ = fit_cached(
            cache,
            {
                "architecture": self.architecture,
                "code": self.version,
                "training": training_params(self),
                "seed": self.seed,
                "threads": threads,
                "data": data_digest(images, labels),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            load=lambda path: self._load(keras, path),
            train=lambda: self._train(keras, images, labels, threads),
        )

    def _transform(self, images: np.ndarray) -> np.ndarray:
        """The ``layer`` output for every image, float32 ``[n, d]``."""
        check_is_fitted(self, "model_")
        _, keras, _ = import_tensorflow(self.threads or usable_cores())
        head = keras.Model(self.model_.input, self.model_.get_layer(self.layer).output)
        return self._forward(head, images)

    # -- helpers ----------------------------------------------------------------------------

    def _train(self, keras: Any, images: np.ndarray, labels: np.ndarray, threads: int) -> Any:
        keras.utils.set_random_seed(self.seed)
        model = self.build(keras)
        optimizer = (keras.optimizers.Adam if self.optimizer == "adam" else keras.optimizers.SGD)(
            learning_rate=self.learning_rate
        )
        model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        x, y = to_input(images), np.asarray(labels, dtype=np.int64)
        say(
            f"  {self.architecture}: training on {len(x):,} images, {self.epochs} epoch(s), "
            f"{self.optimizer} lr {self.learning_rate:g}, batch {self.batch_size}, "
            f"{threads} thread(s), seed {self.seed}"
        )
        self.train_s_ = train_epochs(
            model, x, y, self.epochs, self.batch_size, self.seed, self.architecture
        )
        return model

    def _load(self, keras: Any, path: Path) -> Any | None:
        model = load_model(keras, path, self.layers, self.architecture)
        if model is not None:
            self.train_s_ = 0.0
        return model

    def _forward(self, model: Any, images: np.ndarray) -> np.ndarray:
        # Direct calls on large batches: as fast as model.predict here, without its tf.data
        # pipeline and without retracing a tf.function for every new feature head.
        parts = [
            np.asarray(model(to_input(images[i : i + PREDICT_BATCH]), training=False))
            for i in range(0, len(images), PREDICT_BATCH)
        ]
        if not parts:
            return np.empty((0, model.output.shape[-1]), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False).reshape(len(images), -1)


def train_epochs(
    model: Any, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, seed: int, name: str
) -> float:
    """Train a compiled model epoch by epoch on a seeded shuffle; return the seconds it took.

    The shuffle is a numpy permutation per epoch (``seed``), so with Keras seeded and op
    determinism on, the same seed and thread count give the same weights. One line per epoch.
    """
    shuffle = np.random.default_rng(seed)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = shuffle.permutation(len(x))
        start = time.perf_counter()
        history = model.fit(
            x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0
        )
        logs = sorted(history.history.items(), key=lambda kv: kv[0] != "loss")  # loss first
        scores = "  ".join(f"{k} {v[-1]:.4f}" for k, v in logs)
        say(f"  {name} epoch {epoch}/{epochs}: {scores}  {time.perf_counter() - start:.1f} s")
    return time.perf_counter() - started


def load_model(keras: Any, path: Path, layers: tuple[str, ...], name: str) -> Any | None:
    """The model cached at ``path``, or None when missing; a file that does not load (or lacks
    one of ``layers``) is discarded with a warning, to be trained again."""
    if not path.exists():
        return None
    try:
        model = keras.saving.load_model(path, compile=False)
        for layer in layers:
            model.get_layer(layer)
    except Exception as exc:  # any failure to load means a corrupt or foreign file
        log.warning("discarding corrupt model file %s (%s); retraining", path.name, exc)
        remove(path)  # the link itself if it is one, never what it points to
        return None
    say(f"  {name}: trained model loaded from the cache ({path.name})")
    return model


def training_params(estimator: Any) -> dict[str, Any]:
    """The training parameters of a Keras extractor, as its model's cache key names them."""
    names = ("epochs", "batch_size", "optimizer", "learning_rate")
    return {name: getattr(estimator, name) for name in names}


def fit_cached(
    cache: Any, key_parts: dict[str, Any], load: Callable[[Path], Any], train: Callable[[], Any]
) -> tuple[Any, Path | None, bool]:
    """A trained model: loaded from ``cache`` when there, else trained and saved there.

    ``key_parts`` is everything that determines the weights (they make the cache key, with the
    kernels TensorFlow computes with: :func:`mnist_bench.core.numerics.fingerprint`); ``load``
    returns the model at a path or None. The entry's lock is held while checking, training and
    saving, so concurrent runs train it once. Without a cache, the model is trained.
    Returns ``(model, path or None, whether it was loaded)``.
    """
    if cache is None:
        return train(), None, False
    key = make_key(kind="model", numerics=numerics.fingerprint(), **key_parts)
    path = cache.path("models", key, ".keras")
    with cache.lock("models", key):
        model = load(path)
        if model is not None:
            return model, path, True
        model = train()
        save_model(model, path)
    return model, path, False


def save_model(model: Any, path: Path) -> None:
    """Save ``model`` to ``path`` (``*.keras``) atomically: a temporary sibling, then a rename."""
    with atomic_path(path, suffix=".tmp.keras") as tmp:
        model.save(tmp)

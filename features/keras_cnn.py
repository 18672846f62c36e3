"""Shared training, model cache and batched extraction for the Keras CNN extractors.

A CNN extractor (``features.lenet``, ``features.convnet``) only names its architecture, builds
its Keras model and lists the layers that may serve as features; everything else lives here:

- **Training** on exactly the images and labels :meth:`KerasCNN.fit` receives (the runner passes
  the training split only), seeded and deterministic: ``keras.utils.set_random_seed``, TensorFlow
  op determinism, fixed intra/inter-op thread counts and a seeded per-epoch shuffle. Same seed
  and thread count give identical weights and features. One progress line per epoch on stderr.
- **The model cache**: the trained model is saved in Keras format as
  ``cache.path("models", key, ".keras")``, ``key`` hashing the architecture, the training
  parameters, the seed, the thread count, the SHA-256 of the training images and labels and the
  TensorFlow and Keras versions (not ``layer``: every feature layer comes from one model). The
  entry's file lock is held while checking, training and saving; the file is written to a
  temporary ``*.keras`` sibling and renamed; a file that fails to load is discarded and retrained.
- **Extraction**: images scaled to [0, 1] float32 with a channel axis, run through the model in
  large batches; the features are the output of the layer named by ``layer``.

TensorFlow is imported inside the methods only, so importing this module (and ``mnist-bench
list``, raw and HOG runs) never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks.atomic import atomic_path
from benchmarks.cache import make_key
from benchmarks.params import ParamsMixin
from benchmarks.system import say, usable_cores

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
#: images per forward pass when extracting features or scoring
PREDICT_BATCH = 2048


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


class KerasCNN(ParamsMixin):
    """A supervised CNN feature extractor; subclasses set ``architecture``, ``layers``, ``build``.

    Parameters
    ----------
    layer : which layer's output are the features (one of the subclass's ``layers``).
    epochs, batch_size : training length and minibatch size.
    optimizer : ``"adam"`` or ``"sgd"`` (plain SGD, as the seed used).
    learning_rate : the optimizer's step size.
    seed : seeds weight initialisation, dropout and the per-epoch shuffle.
    threads : TensorFlow threads per pool; 0 = all usable cores.

    Fitted attributes: ``model_`` (the Keras model), ``from_cache_`` (True when loaded, not
    trained), ``model_path_`` (the cached model file, None without a cache), ``train_s_``.
    """

    version: ClassVar[str] = "1"
    supervised: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("tensorflow", "keras", "numpy")
    architecture: ClassVar[str]
    layers: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        *,
        layer: str,
        epochs: int,
        batch_size: int,
        optimizer: str,
        learning_rate: float,
        seed: int,
        threads: int,
    ) -> None:
        self.layer = layer
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.seed = seed
        self.threads = threads

    def build(self, keras: Any) -> Any:
        """The Keras model: input ``[28, 28, 1]``, layers named as in ``layers``, a softmax last."""
        raise NotImplementedError(f"{type(self).__name__} must define build()")

    # -- the extractor protocol -------------------------------------------------------------

    def fit(
        self, images: np.ndarray, labels: np.ndarray | None = None, *, cache: Any = None
    ) -> KerasCNN:
        """Train on ``images``/``labels`` (or load the model trained on them from ``cache``)."""
        self._check()
        if labels is None:
            raise ValueError(f"{self.architecture} is supervised: fit needs labels")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        tf, keras, threads = import_tensorflow(self.threads or usable_cores())
        self.model_path_: Path | None = None
        if cache is None:
            self.model_ = self._train(keras, images, labels, threads)
            self.from_cache_ = False
            return self
        key = make_key(
            kind="model",
            architecture=self.architecture,
            code=self.version,
            training={
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "optimizer": self.optimizer,
                "learning_rate": self.learning_rate,
            },
            seed=self.seed,
            threads=threads,
            data=data_digest(images, labels),
            tensorflow=tf.__version__,
            keras=keras.__version__,
        )
        path = cache.path("models", key, ".keras")
        with cache.lock("models", key):
            model = self._load(keras, path)
            self.from_cache_ = model is not None
            if model is None:
                model = self._train(keras, images, labels, threads)
                save_model(model, path)
        self.model_, self.model_path_ = model, path
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """The ``layer`` output for every image, float32 ``[n, d]``."""
        self._check()
        _, keras, _ = import_tensorflow(self.threads or usable_cores())
        model = self._fitted()
        head = keras.Model(model.input, model.get_layer(self.layer).output)
        return self._predict(head, images)

    def score(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Classification accuracy of the trained model on ``images``."""
        import_tensorflow(self.threads or usable_cores())
        probabilities = self._predict(self._fitted(), images)
        return float(np.mean(probabilities.argmax(axis=1) == np.asarray(labels)))

    # -- helpers ----------------------------------------------------------------------------

    def _check(self) -> None:
        problems = []
        if self.layer not in self.layers:
            problems.append(f"layer must be one of {self.layers}, not {self.layer!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        for name, least in (("epochs", 1), ("batch_size", 1), ("threads", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                problems.append(f"{name} must be an integer >= {least}, not {value!r}")
        if problems:
            raise ValueError(f"{self.architecture}: {'; '.join(problems)}")

    def _fitted(self) -> Any:
        model = getattr(self, "model_", None)
        if model is None:
            raise RuntimeError(f"{self.architecture} is not fitted: call fit first")
        return model

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
        shuffle = np.random.default_rng(self.seed)
        started = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            order = shuffle.permutation(len(x))
            start = time.perf_counter()
            history = model.fit(
                x[order], y[order], batch_size=self.batch_size, epochs=1, shuffle=False, verbose=0
            )
            loss, accuracy = history.history["loss"][-1], history.history["accuracy"][-1]
            say(
                f"  {self.architecture} epoch {epoch}/{self.epochs}: loss {loss:.4f}  "
                f"accuracy {accuracy:.4f}  {time.perf_counter() - start:.1f} s"
            )
        self.train_s_ = time.perf_counter() - started
        return model

    def _load(self, keras: Any, path: Path) -> Any | None:
        if not path.exists():
            return None
        try:
            model = keras.saving.load_model(path, compile=False)
            for name in self.layers:
                model.get_layer(name)
        except Exception as exc:  # any failure to load means a corrupt or foreign file
            log.warning("discarding corrupt model file %s (%s); retraining", path.name, exc)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None
        say(f"  {self.architecture}: trained model loaded from the cache ({path.name})")
        self.train_s_ = 0.0
        return model

    def _predict(self, model: Any, images: np.ndarray) -> np.ndarray:
        # Direct calls on large batches: as fast as model.predict here, without its tf.data
        # pipeline and without retracing a tf.function for every new feature head.
        parts = [
            np.asarray(model(to_input(images[i : i + PREDICT_BATCH]), training=False))
            for i in range(0, len(images), PREDICT_BATCH)
        ]
        if not parts:
            return np.empty((0, model.output.shape[-1]), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False).reshape(len(images), -1)


def save_model(model: Any, path: Path) -> None:
    """Save ``model`` to ``path`` (``*.keras``) atomically: a temporary sibling, then a rename."""
    with atomic_path(path, suffix=".tmp.keras") as tmp:
        model.save(tmp)

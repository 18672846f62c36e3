"""``autoencoder``: a dense Keras autoencoder trained without labels; the features are its code.

The DEC / N2D architecture by default: 784-500-500-2000-10 (ReLU hidden layers, a linear code and
a linear reconstruction, mean squared error, Adam), trained on the images being clustered (as
DEC and N2D do: no labels, no held-out split). Seeded and deterministic like the CNNs (same
seed and thread count, same weights), and the trained model is cached under a key of the
architecture, the training parameters, the seed, the thread count, the SHA-256 of the training
input and the TensorFlow and Keras versions. Its code feeds UMAP in the N2D chain.
"""

from __future__ import annotations

import hashlib
from itertools import pairwise
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from mnist_bench.core.params import Interval, InvalidParameterError
from mnist_bench.core.system import say, usable_cores
from mnist_bench.features.base import BaseExtractor, as_float_rows
from mnist_bench.features.keras_cnn import (
    KERAS_RUNTIME_BYTES,
    PREDICT_BATCH,
    TRAINING_CONSTRAINTS,
    fit_cached,
    import_tensorflow,
    load_model,
    train_epochs,
    training_params,
)


def rows_digest(X: np.ndarray) -> str:
    """SHA-256 of float32 rows (shape and bytes): what the autoencoder was trained on."""
    digest = hashlib.sha256(f"{X.shape}{X.dtype}".encode())
    digest.update(memoryview(np.ascontiguousarray(X)).cast("B"))
    return digest.hexdigest()


class Autoencoder(BaseExtractor):
    """Dense autoencoder 784-500-500-2000-10 (DEC/N2D), label-free; features: its 10-d code.

    Parameters
    ----------
    hidden : widths of the encoder's hidden layers (the decoder mirrors them).
    code_dim : width of the code, the features.
    epochs, batch_size : training length and minibatch size.
    optimizer : ``"adam"`` or ``"sgd"``. learning_rate : its step size.
    seed : seeds the weights and the per-epoch shuffle. threads : TensorFlow threads (0: all).
    """

    version: ClassVar[str] = "1"
    uses_cache: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("tensorflow", "keras", "numpy")
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden": [list, tuple],
        "code_dim": [Interval(Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        hidden: list[int] | tuple[int, ...] = (500, 500, 2000),
        code_dim: int = 10,
        epochs: int = 20,
        batch_size: int = 256,
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        self.hidden = hidden
        self.code_dim = code_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.seed = seed
        self.threads = threads

    def feature_dim(self, image_shape: tuple[int, int]) -> int:
        return int(self.code_dim)

    def memory_bytes(self, n: int, image_shape: tuple[int, int]) -> int:
        """TensorFlow's runtime; the float32 rows, a shuffled copy and the reconstructions; the
        network's weights four times (the weights, their gradients and Adam's two moments) and
        a minibatch's activations (forward and backward)."""
        pixels = int(np.prod(image_shape))
        hidden = [int(w) for w in self.hidden if isinstance(w, Integral) and w >= 1]
        widths = [pixels, *hidden, max(1, int(self.code_dim)), *reversed(hidden), pixels]
        weights = sum((a + 1) * b for a, b in pairwise(widths))
        batch = min(max(1, int(self.batch_size)), max(1, n))
        return KERAS_RUNTIME_BYTES + n * pixels * 12 + weights * 16 + batch * sum(widths) * 12

    def fit(self, X: Any, y: Any = None, *, cache: Any = None) -> Autoencoder:
        """Train on images ``X`` (labels are ignored), or load the model trained on them from
        ``cache`` (a :class:`mnist_bench.core.cache.Cache`); returns ``self``."""
        return super().fit(X, None, cache=cache)  # type: ignore[return-value]

    def _validate_params(self) -> None:
        """The constraints, and ``hidden``: a non-empty list of integer widths >= 1 (a boolean
        is not a width: ``[true]`` would mean one unit)."""
        super()._validate_params()
        widths = self.hidden
        if not len(widths) or not all(
            isinstance(w, Integral) and not isinstance(w, bool | np.bool_) and w >= 1
            for w in widths
        ):
            raise InvalidParameterError(
                "hidden must list layer widths >= 1 (integers: a boolean is not a width), "
                f"got {self.hidden!r}"
            )

    def _fit(self, images: np.ndarray, y: Any = None, *, cache: Any = None) -> None:
        widths = [int(w) for w in self.hidden]
        X = as_float_rows(images)
        tf, keras, threads = import_tensorflow(self.threads or usable_cores())
        self.model_, self.model_path_, self.from_cache_ = fit_cached(
            cache,
            {
                "architecture": "autoencoder",
                "code": self.version,
                "layers": [X.shape[1], *widths, self.code_dim],
                "training": training_params(self),
                "seed": self.seed,
                "threads": threads,
                "data": rows_digest(X),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            load=lambda path: self._load(keras, path),
            train=lambda: self._train(keras, X, threads),
        )

    def _transform(self, images: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        _, keras, _ = import_tensorflow(self.threads or usable_cores())
        encoder = keras.Model(self.model_.input, self.model_.get_layer("code").output)
        X = as_float_rows(images)
        parts = [
            np.asarray(encoder(X[i : i + PREDICT_BATCH], training=False))
            for i in range(0, len(X), PREDICT_BATCH)
        ]
        return np.concatenate(parts) if parts else np.empty((0, self.code_dim), np.float32)

    def build(self, keras: Any, n_inputs: int) -> Any:
        """The Keras model: encoder to the layer ``code``, mirrored decoder, linear output."""
        from keras import layers

        inputs = keras.Input(shape=(n_inputs,), name="pixels")
        x = inputs
        for i, width in enumerate(self.hidden):
            x = layers.Dense(width, activation="relu", name=f"encoder{i}")(x)
        x = layers.Dense(self.code_dim, name="code")(x)
        for i, width in enumerate(reversed(list(self.hidden))):
            x = layers.Dense(width, activation="relu", name=f"decoder{i}")(x)
        outputs = layers.Dense(n_inputs, name="reconstruction")(x)
        return keras.Model(inputs, outputs, name="autoencoder")

    def _train(self, keras: Any, X: np.ndarray, threads: int) -> Any:
        keras.utils.set_random_seed(self.seed)
        model = self.build(keras, X.shape[1])
        optimizer = (keras.optimizers.Adam if self.optimizer == "adam" else keras.optimizers.SGD)(
            learning_rate=self.learning_rate
        )
        model.compile(optimizer=optimizer, loss="mse")
        say(
            f"  autoencoder {'-'.join(map(str, [X.shape[1], *self.hidden, self.code_dim]))}: "
            f"training without labels on {len(X):,} images, {self.epochs} epoch(s), "
            f"{self.optimizer} lr {self.learning_rate:g}, batch {self.batch_size}, "
            f"{threads} thread(s), seed {self.seed}"
        )
        self.train_s_ = train_epochs(
            model, X, X, self.epochs, self.batch_size, self.seed, "autoencoder"
        )
        return model

    def _load(self, keras: Any, path: Path) -> Any | None:
        model = load_model(keras, path, ("code",), "autoencoder")
        if model is not None:
            self.train_s_ = 0.0
        return model

"""``convnet``: the Keras MNIST example convnet of the seed's update; features from a late layer.

Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPool 2 -> Dropout 0.25 -> Flatten ->
Dense(128, relu) -> Dropout 0.5 -> Dense(10) -> softmax. ``layer = "dense"`` (default) gives the
128-d ReLU output (the seed's 98.5%), ``"logits"`` the 10-d output before the softmax. Training,
the model cache and extraction are shared with ``lenet`` in :mod:`features.keras_cnn`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mnist_bench.core.params import StrOptions
from mnist_bench.features.keras_cnn import KerasCNN


class ConvNet(KerasCNN):
    """The Keras example convnet (Adam by default; see default.toml for the epochs chosen)."""

    architecture: ClassVar[str] = "convnet"
    layers: ClassVar[tuple[str, ...]] = ("dense", "logits")
    widths: ClassVar[dict[str, int]] = {"dense": 128, "logits": 10}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **KerasCNN._parameter_constraints,
        "layer": [StrOptions(set(layers))],
    }

    def __init__(
        self,
        *,
        layer: str = "dense",
        epochs: int = 2,
        batch_size: int = 128,
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        self.layer = layer
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.seed = seed
        self.threads = threads

    def build(self, keras: Any) -> Any:
        from keras import layers

        inputs = keras.Input(shape=(28, 28, 1), name="image")
        x = layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
        x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
        x = layers.MaxPooling2D(2, name="pool")(x)
        x = layers.Dropout(0.25, name="dropout1")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(128, activation="relu", name="dense")(x)
        x = layers.Dropout(0.5, name="dropout2")(x)
        logits = layers.Dense(10, name="logits")(x)
        outputs = layers.Activation("softmax", name="softmax")(logits)
        return keras.Model(inputs, outputs, name="convnet")

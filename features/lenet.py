"""``lenet``: the seed blog's LeNet, trained on the training split; features from a late layer.

Conv2D(20, 5x5, same) -> ReLU -> MaxPool 2 -> Conv2D(50, 5x5, same) -> ReLU -> MaxPool 2 ->
Flatten -> Dense(500) -> ReLU -> Dense(10) -> softmax. ``layer = "logits"`` (default) gives the
10-d output just before the softmax, ``"dense"`` the 500-d ReLU output. Training, the model cache
and extraction are shared with ``convnet`` in :mod:`features.keras_cnn`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mnist_bench.core.params import StrOptions
from mnist_bench.features.keras_cnn import KerasCNN


class LeNet(KerasCNN):
    """The seed's LeNet (one Adam epoch by default: the seed's purity in about 90 s on 2 cores)."""

    architecture: ClassVar[str] = "lenet"
    layers: ClassVar[tuple[str, ...]] = ("logits", "dense")
    widths: ClassVar[dict[str, int]] = {"logits": 10, "dense": 500}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **KerasCNN._parameter_constraints,
        "layer": [StrOptions(set(layers))],
    }

    def __init__(
        self,
        *,
        layer: str = "logits",
        epochs: int = 1,
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
        x = layers.Conv2D(20, 5, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(2, name="pool1")(x)
        x = layers.Conv2D(50, 5, padding="same", activation="relu", name="conv2")(x)
        x = layers.MaxPooling2D(2, name="pool2")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(500, activation="relu", name="dense")(x)
        logits = layers.Dense(10, name="logits")(x)
        outputs = layers.Activation("softmax", name="softmax")(logits)
        return keras.Model(inputs, outputs, name="lenet")

"""Feature extractor plug-ins, registered by name and imported lazily.

To add an extractor: write one module here with a class following
:class:`features.base.Extractor`, then add one line to ``REGISTRY`` below.
Nothing is imported until :func:`make` is called, so ``mnist-bench list`` stays instant and
TensorFlow loads only for the cells that use a CNN.
"""

from __future__ import annotations

from typing import Any

from benchmarks.registry import instantiate
from features.base import Extractor

#: name -> ("module:Class", one-line description)
REGISTRY: dict[str, tuple[str, str]] = {
    "raw": ("features.raw:Raw", "raw pixels scaled to [0, 1] (784-d for MNIST)"),
    "hog": (
        "features.hog:HOG",
        "histogram of oriented gradients, vectorised skimage-exact (324-d)",
    ),
    "lenet": ("features.lenet:LeNet", "the seed's LeNet CNN, train split only (10-d logits)"),
    "convnet": ("features.convnet:ConvNet", "Keras' example convnet, train split only (128-d)"),
}


def make(name: str, **params: Any) -> Extractor:
    """Instantiate extractor ``name`` with keyword ``params``."""
    return instantiate(REGISTRY, "extractor", name, params)

"""Feature extractor plug-ins: one small module each, found by the ``mnist_bench.extractors``
entry-point group and imported only when used.

To add an extractor: write one module here with a class derived from
:class:`mnist_bench.features.base.BaseExtractor` (a scikit-learn transformer), then add one line
``name = "mnist_bench.features.module:Class"`` under
``[project.entry-points."mnist_bench.extractors"]`` in ``pyproject.toml``. Another installed
distribution adds its own the same way, in its own ``pyproject.toml``, without touching this
repository.
"""

from __future__ import annotations

from typing import Any

from mnist_bench.core.registry import Registry
from mnist_bench.features.base import Extractor

EXTRACTORS = Registry("extractor", "mnist_bench.extractors")


def make(name: str, **params: Any) -> Extractor:
    """Instantiate extractor ``name`` with keyword ``params``."""
    return EXTRACTORS.make(name, **params)

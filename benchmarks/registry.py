"""Plug-in registries: a name maps to ``"module:Class"`` and a description; classes load lazily."""

from __future__ import annotations

import importlib
from typing import Any

from benchmarks.errors import UserError, unknown


def instantiate(registry: dict[str, tuple[str, str]], kind: str, name: str, params: dict) -> Any:
    """Import the class registered as ``name`` and build it with keyword ``params``.

    An unknown name or a parameter the class does not take is a :class:`UserError` naming
    ``kind`` ("extractor", "backend") and what is allowed.
    """
    if name not in registry:
        raise unknown(kind, name, registry)
    module, _, cls = registry[name][0].partition(":")
    klass = getattr(importlib.import_module(module), cls)
    try:
        return klass(**params)
    except TypeError as exc:
        raise UserError(f"bad parameters for {kind} {name!r}: {exc}") from None

"""Plug-in registries: entry-point groups of the installed distributions, imported lazily.

Every dataset, extractor and backend, the built-in ones included, is an entry point
(``name = "module:object"``) in one of the groups below, declared in its distribution's
``pyproject.toml``. Reading the groups imports nothing; a plug-in's module is imported only when
the plug-in is used, and :meth:`Registry.describe` reads its one-line description from the
module's source without importing it, so ``mnist-bench list`` never loads TensorFlow, FAISS or
Dask.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mnist_bench.core.errors import UserError, unknown


@dataclass(frozen=True)
class Plugin:
    """One registered plug-in: its name, ``"module:object"`` and the distribution providing it."""

    name: str
    value: str
    distribution: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0]

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2]

    def load(self) -> Any:
        """Import the module and return the registered object."""
        target: Any = importlib.import_module(self.module)
        for part in self.attr.split("."):
            target = getattr(target, part)
        return target


class Registry:
    """The plug-ins of one kind (``"extractor"``, ``"backend"``, ``"dataset"``).

    Parameters
    ----------
    kind : the word used in messages ("unknown extractor 'x'; known: ...").
    group : the entry-point group, e.g. ``"mnist_bench.extractors"``.
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._extra: dict[str, Plugin] = {}

    @functools.cached_property
    def _installed(self) -> dict[str, list[Plugin]]:
        found: dict[str, list[Plugin]] = {}
        for ep in metadata.entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "unknown"
            found.setdefault(ep.name, [])
            if all(p.value != ep.value for p in found[ep.name]):
                found[ep.name].append(Plugin(ep.name, ep.value, dist))
        return found

    def register(self, name: str, value: str, distribution: str = "in-process") -> None:
        """Add a plug-in for this process only (tests, notebooks); entry points are the norm."""
        self._extra[name] = Plugin(name, value, distribution)

    def plugins(self) -> dict[str, Plugin]:
        """Every plug-in by name, sorted; a name two distributions claim is refused when used."""
        merged = {name: options[0] for name, options in self._installed.items()}
        merged.update(self._extra)
        return dict(sorted(merged.items()))

    def names(self) -> list[str]:
        return list(self.plugins())

    def __contains__(self, name: object) -> bool:
        return name in self.plugins()

    def get(self, name: str) -> Plugin:
        """The plug-in called ``name``; a :class:`UserError` listing the known ones otherwise."""
        plugins = self.plugins()
        if name not in plugins:
            raise unknown(self.kind, name, plugins)
        options = self._installed.get(name, [])
        if name not in self._extra and len(options) > 1:
            sources = ", ".join(f"{p.distribution} ({p.value})" for p in options)
            raise UserError(
                f"{self.kind} {name!r} is registered by more than one package: {sources}"
            )
        return plugins[name]

    def load(self, name: str) -> Any:
        """The class (or loader function) registered as ``name``, imported now."""
        plugin = self.get(name)
        try:
            return plugin.load()
        except (ImportError, AttributeError) as exc:
            raise UserError(
                f"{self.kind} {name!r} ({plugin.value}, from {plugin.distribution}) cannot be "
                f"loaded: {exc}"
            ) from None

    def make(self, name: str, **params: Any) -> Any:
        """Build plug-in ``name`` with keyword ``params``; a parameter it lacks is a UserError."""
        klass = self.load(name)
        try:
            return klass(**params)
        except TypeError as exc:
            raise UserError(f"bad parameters for {self.kind} {name!r}: {exc}") from None

    def describe(self, name: str) -> str:
        """The first line of the plug-in's docstring, read from its source without importing it."""
        plugin = self.get(name)
        return _docstring_line(plugin.module, plugin.attr)


@functools.cache
def _docstring_line(module: str, attr: str) -> str:
    try:
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(".py"):
            return ""
        with open(origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (ImportError, OSError, SyntaxError, ValueError):
        return ""
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == attr:
            doc = (ast.get_docstring(node) or "").strip()
            return doc.splitlines()[0].rstrip(".") if doc else ""
    return ""

"""Plug-in registries: entry-point groups of the installed distributions, imported lazily.

Every dataset, extractor and backend, the built-in ones included, is an entry point
(``name = "module:object"``) in one of the groups below, declared in its distribution's
``pyproject.toml``. Reading the groups imports nothing; a plug-in's module is imported only when
the plug-in is used, and :meth:`Registry.describe` reads its one-line description from the
module's source without importing it, so ``mnist-bench list`` never loads TensorFlow, FAISS or
Dask.

A plug-in from another distribution than mnist-bench's is an *outside* plug-in: what it raises
(:meth:`Registry.calls`, :func:`blame`) or returns wrong is said in one line naming it,
"plug-in NAME (KIND, from DISTRIBUTION) raised ...", not as a traceback of the suite's.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mnist_bench.core.errors import UserError, unknown

#: The distribution of the suite's own plug-ins (every other one's are outside plug-ins).
OWN_DISTRIBUTION = "mnist-bench"
#: The longest message of an outside plug-in's exception quoted in its line.
QUOTED = 300


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

    @property
    def outside(self) -> bool:
        """Whether another distribution than mnist-bench provides it (and its code is not in
        the suite's package: an install without metadata names no distribution)."""
        ours = re.sub(r"[-_.]+", "-", self.distribution).lower() == OWN_DISTRIBUTION
        return not ours and not self.module.startswith("mnist_bench.")

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
        with self.calls(name):
            try:
                return klass(**params)
            except TypeError as exc:
                raise UserError(f"bad parameters for {self.kind} {name!r}: {exc}") from None

    def failure(self, name: str, what: str) -> UserError:
        """The one line for plug-in ``name`` that ``what`` (``"returned labels of shape
        (5,)"``): ``plug-in NAME (KIND, from DISTRIBUTION) WHAT``."""
        plugin = self.plugins().get(name)
        source = f", from {plugin.distribution}" if plugin is not None else ""
        return UserError(f"plug-in {name!r} ({self.kind}{source}) {what}")

    def is_outside(self, name: str) -> bool:
        """Whether plug-in ``name`` comes from another distribution (see :attr:`Plugin.outside`)."""
        plugin = self.plugins().get(name)
        return plugin is not None and plugin.outside

    @contextlib.contextmanager
    def calls(self, name: str) -> Iterator[None]:
        """Within the block, what an outside plug-in ``name`` raises (or a ``sys.exit`` it
        calls) becomes one line naming it (:meth:`failure`: "plug-in NAME (...) raised TYPE:
        MESSAGE", a :class:`UserError`).

        A :class:`UserError` (already one line) and ``MemoryError`` (the grid names what ran
        out) pass as they are, and so does everything the suite's own plug-ins raise: a bug of
        the suite keeps its traceback.
        """
        if not self.is_outside(name):
            yield
            return
        try:
            yield
        except (UserError, MemoryError):
            raise
        except Exception as exc:
            raise self.failure(name, f"raised {quoted(exc)}") from exc
        except SystemExit as exc:  # sys.exit() in a plug-in ends no run of the suite's
            raise self.failure(name, f"called sys.exit({exc.code!r})") from exc

    def describe(self, name: str) -> str:
        """The first line of the plug-in's docstring, read from its source without importing it."""
        plugin = self.get(name)
        return _docstring_line(plugin.module, plugin.attr)


def quoted(exc: BaseException) -> str:
    """``TYPE: first line of the message`` of ``exc``, at most :data:`QUOTED` characters."""
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # an exception whose message itself fails
        lines = ["(its message cannot be shown)"]
    text = lines[0] if lines else ""
    text = text if len(text) <= QUOTED else text[: QUOTED - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def blame(exc: BaseException, registries: Iterable[Registry]) -> str | None:
    """The one line for ``exc`` when an outside plug-in's code raised it (a module of its
    package is in the traceback; the innermost such frame names it), else None.

    The last resort for calls into a plug-in that no :meth:`Registry.calls` block wraps. Where
    one package holds several plug-ins, the frame's ``self`` (or the function) tells which.
    """
    candidates: dict[str, list[tuple[Registry, Plugin]]] = {}
    for registry in registries:
        for plugin in registry.plugins().values():
            package = plugin.module.partition(".")[0]
            if plugin.outside and package != "mnist_bench":
                candidates.setdefault(package, []).append((registry, plugin))
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        options = candidates.get(module.partition(".")[0])
        if options:
            found = _whose(frame, options)
    if found is None:
        return None
    registry, plugin = found
    return str(registry.failure(plugin.name, f"raised {quoted(exc)}"))


def _whose(frame: Any, options: list[tuple[Registry, Plugin]]) -> tuple[Registry, Plugin]:
    """Which of the plug-ins ``options`` (of one package) ``frame`` runs the code of: the one
    whose class ``self`` is an instance of, or whose object the frame's function is, or else
    the first in the frame's module."""
    owner = frame.f_locals.get("self")
    module = frame.f_globals.get("__name__")
    for registry, plugin in options:
        target = _loaded(plugin)
        if target is None:
            continue
        if isinstance(target, type) and isinstance(owner, target):
            return registry, plugin
        if getattr(target, "__code__", None) is frame.f_code:
            return registry, plugin
    same_module = [option for option in options if option[1].module == module]
    return (same_module or options)[0]


def _loaded(plugin: Plugin) -> Any:
    """The object of ``plugin`` if its module is imported already (nothing is imported)."""
    if plugin.module not in sys.modules:
        return None
    try:
        return plugin.load()
    except Exception:  # only a guess at who raised: never a second failure
        return None


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

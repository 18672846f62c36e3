"""What every picture of a report shares: matplotlib on the Agg backend, PNGs written atomically.

:func:`cached` keeps a drawn picture in the cache folder under a key of everything it is drawn
from (the data, the title, the drawing code and matplotlib's version), so a rerun that gives
the same labels copies its pictures instead of drawing them again. Pictures drawn with the
report (the elbow plots) are kept so too while :func:`kept_in` says where (``mnist-bench run``
does, around the report; :func:`kept` is that cache). :func:`stale` says whether pictures are
missing or older than what they are drawn from.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from mnist_bench.core.atomic import write_bytes
from mnist_bench.core.cache import Cache, make_key


def pyplot():
    """``matplotlib.pyplot``, on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, folder: Path | None = None) -> None:
    """Write ``fig`` to ``path`` atomically and close it (``path`` must resolve inside
    ``folder``: :mod:`mnist_bench.core.atomic`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    write_bytes(path, buf.getvalue(), folder=folder)


@functools.cache
def code_version(*sources: str) -> str:
    """A hash of this module's source and the given source files (the drawing code)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for source in sources:
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def fingerprint(*arrays: Any) -> str:
    """SHA-256 of arrays' dtypes, shapes and contents."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def cached(path: Path, cache: Cache | None, draw: Callable[[Path], None], **key: Any) -> None:
    """Write the picture ``draw(path)`` draws, or a copy of the same picture kept in ``cache``.

    ``key`` names everything the picture depends on besides matplotlib's version; without a
    cache the picture is simply drawn.
    """
    if cache is None:
        draw(path)
        return
    key["matplotlib"] = metadata.version("matplotlib")
    kept = cache.path("pictures", make_key(**key), ".png")
    if kept.is_file():
        write_bytes(path, kept.read_bytes())
        return
    draw(path)
    write_bytes(kept, Path(path).read_bytes(), folder=cache.root)


_KEPT: list[Cache] = []


@contextlib.contextmanager
def kept_in(cache: Cache) -> Iterator[None]:
    """Keep the plots drawn in the block (the elbow curves) in ``cache``, as :func:`cached`."""
    _KEPT.append(cache)
    try:
        yield
    finally:
        _KEPT.pop()


def kept() -> Cache | None:
    """The cache of the innermost :func:`kept_in` block, or None outside every one."""
    return _KEPT[-1] if _KEPT else None


def stale(source: Path, *pictures: Path) -> bool:
    """Whether any of ``pictures`` is missing or older than ``source``."""
    made = source.stat().st_mtime
    return any(not p.is_file() or p.stat().st_mtime < made for p in pictures)

"""Plots derived from result rows (matplotlib, Agg backend, written atomically as PNG).

:func:`cached` keeps a drawn picture in the cache folder under a key of everything it is drawn
from (the data, the title, the drawing code and matplotlib's version), so a rerun that gives
the same labels copies its pictures instead of drawing them again. The report's elbow plots
are kept so too while :func:`kept_in` says where (``mnist-bench run`` does, around the report).
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

import pandas as pd

from mnist_bench.core.atomic import write_bytes
from mnist_bench.core.cache import Cache, make_key


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _figure().close(fig)
    write_bytes(path, buf.getvalue())


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
    write_bytes(kept, Path(path).read_bytes())


_KEPT: list[Cache] = []


@contextlib.contextmanager
def kept_in(cache: Cache) -> Iterator[None]:
    """Keep the plots drawn in the block (the elbow curves) in ``cache``, as :func:`cached`."""
    _KEPT.append(cache)
    try:
        yield
    finally:
        _KEPT.pop()


def elbow(curves: pd.DataFrame, knees: dict[str, int | None], path: Path, title: str) -> None:
    """One line per cell: WCSS / WCSS(k=1) against k, the knee marked. ``curves``: k x cell."""
    cached(
        path,
        _KEPT[-1] if _KEPT else None,
        lambda out: _elbow(curves, knees, out, title),
        kind="elbow",
        code=code_version(),
        data=fingerprint(curves.to_numpy(dtype=float), curves.index.to_numpy(dtype=float)),
        cells=[str(c) for c in curves.columns],
        knees={str(c): k for c, k in knees.items()},
        title=title,
    )


def _elbow(curves: pd.DataFrame, knees: dict[str, int | None], path: Path, title: str) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for cell in curves.columns:
        series = curves[cell].dropna()
        norm = series / series.iloc[0]
        (line,) = ax.plot(norm.index, norm.values, marker="o", markersize=3, label=cell)
        knee = knees.get(cell)
        if knee is not None and knee in norm.index:
            ax.plot(
                [knee],
                [norm.loc[knee]],
                marker="s",
                markersize=9,
                color=line.get_color(),
                markerfacecolor="none",
            )
    ax.plot(
        [],
        [],
        marker="s",
        markersize=9,
        color="grey",
        markerfacecolor="none",
        linestyle="none",
        label="knee (kneed)",
    )
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel("WCSS / WCSS at k=1")
    ax.set_title(title)
    ax.set_xticks(list(curves.index))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save(fig, path)

"""Whether a grid fits in memory, checked before any work: refused in one line when it does not.

Every extraction step not in the cache and every fit is estimated: the features it holds, the
plug-in's working memory (:meth:`mnist_bench.features.base.BaseExtractor.memory_bytes`,
:meth:`mnist_bench.clustering.base.BaseBackend.memory_bytes`) and the suite's own for scoring a
row. The largest that exceeds what the process may still use
(:func:`mnist_bench.core.memory.available`) is refused, with the ``--limit`` that would fit and,
for a fit, the dask backend when it would. Features are counted as held in memory even when the
cache memory-maps them (the estimate errs on the generous side).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_bench import features
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.memory import Available, available, gb
from mnist_bench.core.vocabulary import cell_label
from mnist_bench.data.datasets import Dataset
from mnist_bench.features.base import rows_shape
from mnist_bench.grid.config import GridConfig, make_backend
from mnist_bench.grid.extraction import step_key

#: The backend suggested for fits too large for one machine's memory.
OUT_OF_CORE = "dask"
#: Rows of the WCSS buffer (see :func:`mnist_bench.analyses.scores.wcss`).
WCSS_CHUNK = 16384


@dataclass(frozen=True)
class Need:
    """The estimated peak memory of one extraction step or one fit.

    A fit also keeps its backend, the part of ``bytes`` that is not the backend's (features and
    scoring) and its rows, features and clusters, so another backend's need can be told.
    """

    what: str
    bytes: int
    backend: str | None = None  # None: an extraction step
    rest: int = 0
    size: tuple[int, int, int] = (0, 0, 0)  # n, d, k


def scoring_bytes(n: int, d: int) -> int:
    """The suite's own memory for a row: the WCSS buffer, labels and the contingency counts."""
    return min(n, WCSS_CHUNK) * d * 8 + n * 40


def needs(
    cfg: GridConfig,
    sizes: Mapping[str, int],
    image_shape: tuple[int, int],
    splits: Mapping[str, list[str]],
    cached: Callable[[str, int], bool],
) -> list[Need]:
    """The needs of the grid on a dataset of ``sizes`` images per split (``"all"``: all).

    ``splits``: the splits clustered for each extractor; ``cached(extractor, i)``: whether the
    output of its first ``i + 1`` steps is in the cache.
    """
    n_all = sizes["all"]
    k = max([*cfg.k, cfg.eval_k or 0])
    found = []
    for name in cfg.extractors:
        shape, d, held = image_shape, int(np.prod(image_shape)), 0
        for i, (step, params) in enumerate(cfg.steps(name)):
            extractor = features.make(step, **params)
            d = int(extractor.feature_dim(shape))
            work = 0 if cached(name, i) else int(extractor.memory_bytes(n_all, shape))
            label = f"extractor {name!r}" + (f" (step {step!r})" if step != name else "")
            found.append(Need(f"{label} on {n_all:,} images", held + n_all * d * 4 + work))
            shape, held = rows_shape(d), n_all * d * 4
        for split in splits[name]:
            n = sizes[split]
            rows = held + (0 if split == "all" else n * d * 4) + scoring_bytes(n, d)
            for backend in cfg.backends:
                if not cfg.runs(backend, name):
                    continue
                model = cfg.backend(backend, k, 0)
                found.append(
                    Need(
                        f"{cell_label(name, backend)} on {n:,} images (split {split}, k = {k})",
                        rows + int(model.memory_bytes(n, d, k)),
                        backend,
                        rows,
                        (n, d, k),
                    )
                )
    return found


def _scaled(sizes: Mapping[str, int], n_all: int) -> dict[str, int]:
    return {split: math.ceil(n * n_all / sizes["all"]) for split, n in sizes.items()}


def _round_down(n: int) -> int:
    """Two significant digits, rounded down (43,217 -> 43,000)."""
    step = 10 ** max(0, len(str(n)) - 2)
    return n // step * step


def largest_limit(fits: Callable[[int], bool], n_all: int, smallest: int) -> int | None:
    """The largest ``--limit`` below ``n_all`` (two significant digits) for which ``fits``."""
    if not fits(smallest):
        return None
    lo, hi = smallest, n_all - 1  # fits(lo); search the largest that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return max(smallest, _round_down(lo))


def refusal(worst: Need, room: Available, limit: int | None, dask_fits: bool) -> str:
    """The one line that refuses the grid."""
    hints = []
    if worst.backend is not None and worst.backend != OUT_OF_CORE and dask_fits:
        hints.append(f"the {OUT_OF_CORE} backend")
    if limit is not None:
        hints.append(f"--limit {limit}")
    hint = "use " + " or ".join(hints) if hints else "free some memory or use a larger machine"
    return (
        f"{worst.what} needs about {gb(worst.bytes)} GB, {gb(room.bytes)} GB is available; {hint}"
    )


def out_of_memory(what: str, n_all: int, backend: str | None) -> UserError:
    """The one line for a ``MemoryError`` the estimate did not foresee."""
    hints = [f"the {OUT_OF_CORE} backend"] if backend not in (None, OUT_OF_CORE) else []
    if n_all > 1:
        hints.append(f"--limit {_round_down(n_all // 2)}")
    return UserError(
        f"{what} ran out of memory ({gb(available().bytes)} GB is available now); "
        f"use {' or '.join(hints) or 'a larger machine'}"
    )


def check(
    cfg: GridConfig, ds: Dataset, cache: Cache, splits: Mapping[str, list[str]]
) -> list[Need]:
    """Refuse (:class:`UserError`) a grid whose largest need exceeds the memory available.

    Returns the needs (for whoever wants to show them).
    """
    clustered = {"all", *(split for names in splits.values() for split in names)}
    sizes = {split: int(ds.mask(split).sum()) for split in clustered}
    shape = (int(ds.images.shape[1]), int(ds.images.shape[2]))
    keys: dict[tuple[str, int], bool] = {}

    def cached(name: str, i: int) -> bool:
        if (name, i) not in keys:
            keys[name, i] = cache.has_array(step_key(ds, cfg.steps(name)[: i + 1]))
        return keys[name, i]

    found = needs(cfg, sizes, shape, splits, cached)
    room = available()
    too_big = [need for need in found if need.bytes > room.bytes]
    if not too_big:
        return found
    worst = max(too_big, key=lambda need: need.bytes)

    def fits(n_all: int) -> bool:
        scaled = needs(cfg, _scaled(sizes, n_all), shape, splits, cached)
        return all(need.bytes <= room.bytes for need in scaled)

    smallest = max([*cfg.k, cfg.eval_k or 1, 1]) * 10
    limit = largest_limit(fits, sizes["all"], smallest) if sizes["all"] > smallest else None
    raise UserError(refusal(worst, room, limit, _dask_fits(cfg, worst, room)))


def _dask_fits(cfg: GridConfig, worst: Need, room: Available) -> bool:
    """Whether the dask backend would fit where ``worst`` (a fit) does not."""
    if worst.backend is None or worst.backend == OUT_OF_CORE:
        return False
    try:
        model: Any = make_backend(OUT_OF_CORE, {}, 2, 0, cfg.threads_in_use)
    except UserError:  # not installed
        return False
    return worst.rest + int(model.memory_bytes(*worst.size)) <= room.bytes

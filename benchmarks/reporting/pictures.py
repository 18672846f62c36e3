"""Every picture of a run folder drawn ahead of its report: montages, heatmaps and 2-D maps.

``mnist-bench run`` calls :func:`draw` before rendering REPORT.md, so the pictures' time is
measured apart from the page's (the report then finds them drawn and only links them). The
dataset is loaded once for all of them, and the pictures and the maps' 2-D layouts are kept in
the cache folder, so a rerun that gives the same labels copies its pictures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnist_bench.core.cache import Cache
from mnist_bench.core.vocabulary import ENVIRONMENT
from mnist_bench.grid import environment
from mnist_bench.grid.results import read_results
from mnist_bench.reporting import maps, visuals


def draw(out_dir: Path, cache: Cache | None = None, ds: Any = None) -> None:
    """Draw the montages, heatmaps and maps of ``out_dir`` that are missing or out of date.

    ``ds``: the run's dataset when the caller has it (else it is loaded when needed).
    """
    out_dir = Path(out_dir)
    frame = read_results(out_dir)
    if frame.empty:
        return
    env = environment.read(out_dir / ENVIRONMENT)  # checked by its schema
    load: Callable[[], Any] = functools.cache(
        functools.partial(visuals.load_dataset, frame, env, cache)
    )
    if ds is not None:
        load = functools.partial(_given, ds)
    visuals.ensure(out_dir, frame, env, load, cache)
    maps.ensure(out_dir, frame, env, load, cache)


def _given(ds: Any) -> Any:
    return ds

"""2-D maps of the label-free cells: where the images lie, coloured by cluster, mistakes marked.

For each split, a seeded sample of up to :data:`N_POINTS` of its images is embedded in 2-D once
(UMAP of the pixels, seeded, so the same map on every render) and kept in ``OUT/maps/`` with
the sample's positions, and in the cache folder when one is given (``mnist-bench run`` gives
its own), so later runs on the same images do not lay them out again. Each label-free cell at
eval_k (first seed, as the montages) is drawn on it: every point coloured by its cluster, and
the images whose digit differs from their cluster's majority digit marked with a black cross.
The same layout for every cell of a split, so the pictures compare at a glance.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mnist_bench.core import plots
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_npz
from mnist_bench.core.cache import Cache, make_key
from mnist_bench.core.errors import UserError
from mnist_bench.core.own_files import UNREADABLE
from mnist_bench.reporting import visuals

log = logging.getLogger(__name__)

#: Images per map (a seeded sample of the split).
N_POINTS = 10_000
#: Seed of the sample and of the 2-D UMAP.
MAP_SEED = 0
#: Bump when the same sample would be laid out differently.
LAYOUT_VERSION = "1"


def _layout(
    out_dir: Path,
    split: str,
    sample: np.ndarray,
    ds: Any,
    cache: Cache | None = None,
) -> np.ndarray:
    """``[len(sample), 2]`` positions of the images of ``ds`` at ``sample``, made once and kept.

    Read from the run folder, else from ``cache``, else laid out (and kept in both).
    """
    path = words.inside(out_dir, words.map_layout_file(split))
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                kept, xy, version = npz["index"], npz["xy"], str(npz["version"])
            if (
                version == LAYOUT_VERSION
                and np.array_equal(kept, sample)
                and xy.shape == (len(sample), 2)
                and np.isfinite(xy).all()
            ):
                return xy
        except UNREADABLE:
            pass
    if cache is None:
        xy = _umap_2d(ds.images, sample)
    else:
        key = make_key(
            kind="map-layout",
            dataset=ds.name,
            checksum=ds.checksum,
            sample=hashlib.sha256(np.ascontiguousarray(sample, dtype=np.int64)).hexdigest(),
            version=LAYOUT_VERSION,
            packages={d: _version(d) for d in ("umap-learn", "pynndescent", "numba", "numpy")},
        )
        xy, _, _ = cache.array_blocks(
            key,
            lambda: ([_umap_2d(ds.images, sample)], len(sample), {"kind": "map-layout"}),
            check=lambda xy, meta: _check_layout(xy, len(sample)),
        )
        xy = np.asarray(xy, dtype=np.float32)
    write_npz(path, index=sample, xy=xy, version=np.str_(LAYOUT_VERSION))
    return xy


def _check_layout(xy: np.ndarray, n: int) -> None:
    """A kept layout is ``n`` finite 2-D points (else the cache computes it again)."""
    if xy.shape != (n, 2) or not np.isfinite(xy).all():
        raise ValueError(f"a layout of shape {xy.shape}, not {n} finite 2-D points")


def _umap_2d(images: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The seeded 2-D UMAP of the pixels of the images at ``sample``."""
    from mnist_bench.features.umap_embedding import umap_module

    umap = umap_module()
    X = images[sample].reshape(len(sample), -1).astype(np.float32) / np.float32(255.0)
    xy = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=MAP_SEED, n_jobs=1)
    return np.asarray(xy.fit_transform(X), dtype=np.float32)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _sample(index: np.ndarray) -> np.ndarray:
    """The dataset positions drawn for a split's map: all when few, else a seeded sample."""
    if len(index) <= N_POINTS:
        return np.sort(index)
    rng = np.random.default_rng(MAP_SEED)
    return np.sort(rng.choice(index, size=N_POINTS, replace=False))


def draw_map(
    xy: np.ndarray, y: np.ndarray, labels: np.ndarray, k: int, path: Path, title: str
) -> None:
    """Scatter ``xy`` coloured by cluster; crosses on images of another digit than the majority."""
    plt = plots.pyplot()
    majority = np.zeros(k, dtype=np.int64)
    for cluster in range(k):
        members = y[labels == cluster]
        if len(members):
            majority[cluster] = np.bincount(members).argmax()
    wrong = y != majority[labels]
    fig, ax = plt.subplots(figsize=(7.0, 6.4))
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    ax.scatter(xy[:, 0], xy[:, 1], c=labels % cmap.N, cmap=cmap, s=2, linewidths=0, alpha=0.8)
    ax.scatter(xy[wrong, 0], xy[wrong, 1], marker="x", s=6, c="black", linewidths=0.5)
    for cluster in range(k):
        inside = labels == cluster
        if inside.any():
            cx, cy = np.median(xy[inside], axis=0)
            ax.text(cx, cy, str(majority[cluster]), fontsize=11, weight="bold", ha="center")
    ax.set_xticks([])
    ax.set_yticks([])
    share = wrong.mean() if len(wrong) else 0.0
    ax.set_title(
        f"{title}\n{len(xy):,} images (2-D UMAP of the pixels), coloured by cluster, labelled "
        f"by majority digit;\nx: digit differs from its cluster's majority ({share:.1%})",
        fontsize=9,
    )
    plots.save(fig, path)


def ensure(
    out_dir: Path,
    frame: pd.DataFrame,
    env: dict[str, Any],
    load: Callable[[], Any] | None = None,
    cache: Cache | None = None,
) -> dict[visuals.Cell, str]:
    """Draw the map of every label-free eval cell that lacks one; return ``{cell: path}``.

    ``cache``: where a split's 2-D layout is kept for other runs on the same images.

    Like the montages: a cell without a labels file, or whose dataset cannot be loaded, is left
    out (with a warning for the latter); nothing here raises for it. ``load`` returns the
    run's dataset (default: :func:`visuals.load_dataset`); ``cache`` keeps the 2-D layouts.
    """
    out_dir = Path(out_dir)
    cells = [c for c in visuals.eval_cells(frame) if not c.supervised]
    todo = [
        c
        for c in cells
        if c.labels(out_dir).is_file() and plots.stale(c.labels(out_dir), _map(c, out_dir))
    ]
    if todo:
        try:
            ds = load() if load is not None else visuals.load_dataset(frame, env, cache)
        except UserError as exc:
            log.warning("cannot draw the 2-D maps: %s", exc)
            ds = None
        for cell in todo if ds is not None else []:
            try:
                _draw(cell, out_dir, frame, ds, cache)
            except UNREADABLE as exc:
                log.warning("no 2-D map for %s: %s", cell.stem, exc)
    return {
        c: _map(c, out_dir).relative_to(out_dir).as_posix()
        for c in cells
        if _map(c, out_dir).is_file()
    }


def _map(cell: visuals.Cell, out_dir: Path) -> Path:
    return words.inside(out_dir, words.map_file(*cell.parts))


def _draw(
    cell: visuals.Cell, out_dir: Path, frame: pd.DataFrame, ds: Any, cache: Cache | None
) -> None:
    rows = frame[(frame.split == cell.split) & (frame.extractor == cell.extractor)]
    n_expected = int(rows["n_samples"].iloc[0])
    index, labels = visuals.read_labels(cell.labels(out_dir), len(ds), n_expected, cell.k)
    sample = _sample(index)
    xy = _layout(out_dir, cell.split, sample, ds, cache)
    order = np.argsort(index, kind="stable")  # the labels file's rows of the sampled images
    where = order[np.searchsorted(index, sample, sorter=order)]
    k = max(cell.k, int(labels.max()) + 1 if len(labels) else cell.k)
    y = ds.labels[sample]
    shown = labels[where].astype(np.int64)
    plots.cached(
        _map(cell, out_dir),
        cache,
        lambda path: draw_map(xy, y, shown, k, path, cell.title),
        kind="map",
        code=plots.code_version(__file__),
        data=plots.fingerprint(xy, y, shown),
        k=k,
        title=cell.title,
    )

"""Pictures of the clusters themselves: a montage and a confusion heatmap per cell at eval_k.

Both are drawn from ``OUT/labels/*.npz`` (the predicted cluster of every clustered image, kept by
the runner for each eval_k row) and the dataset, reloaded by the name and ``limit`` recorded in
``environment.json`` (falling back to ``results.csv``). One pair of PNGs per cell (split,
extractor, backend) at eval_k, for the first seed, in ``OUT/montages/`` and ``OUT/heatmaps/``.

- **Montage**: one row per cluster with up to ``N_SAMPLES`` seeded-random member images (fewer
  when the cluster is smaller; an empty cluster gets an empty row), labelled with the cluster's
  majority digit, size and purity. Images whose true digit is not the majority are drawn in red.
- **Heatmap**: true digit x cluster counts, the clusters ordered by the Hungarian matching of
  clusters to digits (``scipy.optimize.linear_sum_assignment``), matched cells outlined; the
  colour is the share of the cluster, so small and large clusters read alike.

:func:`ensure` (called by the report) draws the missing or out-of-date ones and never fails
for want of ``labels/`` or of the dataset: it then returns fewer links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from mnist_bench.clustering.base import NOISE
from mnist_bench.core import plots
from mnist_bench.core import vocabulary as words
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.own_files import UNREADABLE
from mnist_bench.data import datasets

log = logging.getLogger(__name__)

#: Images per cluster row of a montage.
N_SAMPLES = 12
#: Seed of the random choice of montage images (fixed, so a re-render draws the same images).
SAMPLE_SEED = 0
#: Widest figure, in inches at the 100 dpi of :func:`mnist_bench.core.plots.save`
#: (GitHub shows ~900 px).
MAX_WIDTH_IN = 8.8


@dataclass(frozen=True)
class Cell:
    """One cell at eval_k and its first seed: where its labels are and where its pictures go."""

    split: str
    extractor: str
    backend: str
    k: int
    seed: int
    supervised: bool

    @property
    def parts(self) -> tuple[str, str, str, int, int]:
        return (self.split, self.extractor, self.backend, self.k, self.seed)

    @property
    def stem(self) -> str:
        """``{split}-{extractor}-{backend}-k{k}-seed{seed}``: the name of the pictures."""
        return words.stem(*self.parts)

    @property
    def title(self) -> str:
        cell = words.cell_label(self.extractor, self.backend, self.supervised)
        return f"{cell}, split {self.split}, k={self.k}, seed {self.seed}"

    def labels(self, out_dir: Path) -> Path:
        """The labels file the runner wrote for this cell."""
        return words.inside(out_dir, words.labels_file(*self.parts))

    def montage(self, out_dir: Path) -> Path:
        return words.inside(out_dir, words.montage_file(*self.parts))

    def heatmap(self, out_dir: Path) -> Path:
        return words.inside(out_dir, words.heatmap_file(*self.parts))


def eval_cells(frame: pd.DataFrame) -> list[Cell]:
    """The cells of ``results.csv`` at eval_k, each with its first (smallest) seed, in row order."""
    evals = frame[frame["eval_k"].astype(bool)]
    cells = []
    for (split, ext, backend), group in evals.groupby(
        ["split", "extractor", "backend"], sort=False
    ):
        first = group.sort_values("seed").iloc[0]
        cells.append(
            Cell(
                str(split),
                str(ext),
                str(backend),
                int(first["k"]),
                int(first["seed"]),
                bool(first["supervised"]),
            )
        )
    return cells


# --------------------------------------------------------------------------- cluster statistics


def confusion(y: np.ndarray, labels: np.ndarray, k: int, classes: np.ndarray) -> np.ndarray:
    """Counts ``[len(classes), k]``: true class (in ``classes`` order) x cluster 0..k-1."""
    row_of = {int(c): i for i, c in enumerate(classes)}
    rows = np.array([row_of[int(v)] for v in y], dtype=np.int64)
    table = np.zeros((len(classes), k), dtype=np.int64)
    np.add.at(table, (rows, labels), 1)
    return table


def hungarian_order(table: np.ndarray) -> tuple[list[int], dict[int, int]]:
    """Clusters in the order of the digit each is matched to, then the unmatched ones.

    Returns the cluster order and ``{cluster: matched row}``. Unmatched clusters (when k exceeds
    the number of digits) follow, by majority digit and then by size, largest first.
    """
    rows, cols = linear_sum_assignment(table, maximize=True)
    matched = {int(c): int(r) for r, c in zip(rows, cols, strict=True)}
    order = [int(c) for _, c in sorted(zip(rows, cols, strict=True))]
    sizes = table.sum(axis=0)
    rest = [c for c in range(table.shape[1]) if c not in matched]
    rest.sort(
        key=lambda c: (int(table[:, c].argmax()) if sizes[c] else table.shape[0], -sizes[c], c)
    )
    return order + rest, matched


# --------------------------------------------------------------------------------------- drawing


def _tile(image: np.ndarray, mismatch: bool) -> np.ndarray:
    """An RGB tile in [0, 1]: dark ink on white, red ink for an image of another digit."""
    ink = image.astype(np.float32) / 255.0
    tile = np.repeat((1.0 - ink)[..., None], 3, axis=2)
    if mismatch:
        tile[..., 0] = 1.0 - 0.1 * ink  # keep red, take green and blue away with the ink
    return tile


def draw_montage(
    images: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    k: int,
    classes: np.ndarray,
    path: Path,
    title: str,
    n_samples: int = N_SAMPLES,
    seed: int = SAMPLE_SEED,
) -> None:
    """Write the montage of one clustering: a row of sample images per cluster.

    Parameters
    ----------
    images : uint8 ``[n, h, w]``, the clustered images.
    y : true digit of each image. labels : predicted cluster (0..k-1) of each image.
    k : number of clusters (empty ones get an empty row). classes : the digits, in order.
    path : PNG to write (atomically). title : figure title.
    n_samples : images per row (fewer when the cluster is smaller).
    seed : seed of the random choice of images.
    """
    table = confusion(y, labels, k, classes)
    order, _ = hungarian_order(table)
    mosaic, captions = montage_mosaic(images, y, labels, table, order, classes, n_samples, seed)
    show_montage(mosaic, captions, images.shape[1], k, n_samples, path, title)


def _pad(h: int) -> int:
    """Pixels between the tiles of a montage of images ``h`` pixels high."""
    return max(1, h // 14)


def montage_mosaic(
    images: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    table: np.ndarray,
    order: list[int],
    classes: np.ndarray,
    n_samples: int,
    seed: int,
) -> tuple[np.ndarray, list[str]]:
    """The montage's tiles as one RGB image in [0, 1], and the caption of each of its rows.

    A row per cluster in ``order`` (``table``: its :func:`confusion`), with up to ``n_samples``
    of its images drawn at random (``seed``), red where the digit is not the cluster's majority.
    """
    rng = np.random.default_rng(seed)
    h, w = images.shape[1:3]
    pad = _pad(h)
    mosaic = np.ones(
        (table.shape[1] * (h + pad) + pad, n_samples * (w + pad) + pad, 3), dtype=np.float32
    )
    captions = []
    for row, cluster in enumerate(order):
        members = np.flatnonzero(labels == cluster)
        size = len(members)
        if size == 0:
            captions.append(f"cluster {cluster}: empty")
            continue
        counts = table[:, cluster]
        majority = classes[int(counts.argmax())]
        purity = counts.max() / size
        captions.append(
            f"cluster {cluster} → {majority}  ·  {size:,} images  ·  purity {purity:.2f}"
        )
        chosen = np.sort(rng.choice(members, size=min(n_samples, size), replace=False))
        for col, i in enumerate(chosen):
            top, left = pad + row * (h + pad), pad + col * (w + pad)
            mosaic[top : top + h, left : left + w] = _tile(images[i], y[i] != majority)
    return mosaic, captions


def show_montage(
    mosaic: np.ndarray, captions: list[str], h: int, k: int, n_samples: int, path: Path, title: str
) -> None:
    """Draw the montage's ``mosaic`` (images ``h`` pixels high, ``k`` rows) with its captions
    left of the rows, at most :data:`MAX_WIDTH_IN` wide, and write it to ``path``."""
    plt = plots.pyplot()
    pad = _pad(h)
    cell_in = 0.42  # display size of one image
    label_in = 2.6
    width = min(MAX_WIDTH_IN, label_in + n_samples * cell_in)
    cell_in = (width - label_in) / n_samples
    fig = plt.figure(figsize=(width, 0.75 + k * cell_in))
    ax = fig.add_axes((label_in / width, 0.0, 1 - label_in / width, 1 - 0.6 / (0.75 + k * cell_in)))
    ax.imshow(mosaic, interpolation="nearest", aspect="equal")
    for row, caption in enumerate(captions):
        ax.text(
            -pad * 2, pad + row * (h + pad) + h / 2, caption, ha="right", va="center", fontsize=8
        )
    ax.set_axis_off()
    fig.suptitle(
        f"{title}\nup to {n_samples} random images per cluster; "
        "red: true digit differs from the cluster's majority",
        fontsize=9,
    )
    plots.save(fig, path)


def draw_heatmap(
    y: np.ndarray, labels: np.ndarray, k: int, classes: np.ndarray, path: Path, title: str
) -> None:
    """Write the confusion heatmap of one clustering: true digit x cluster, Hungarian order.

    Cells are coloured by their share of the cluster and annotated with the count; the cluster
    matched to each digit is outlined.
    """
    plt = plots.pyplot()
    from matplotlib.patches import Rectangle

    table = confusion(y, labels, k, classes)
    order, matched = hungarian_order(table)
    shown = table[:, order]
    sizes = shown.sum(axis=0)
    share = np.divide(shown, sizes, out=np.zeros(shown.shape, dtype=float), where=sizes > 0)
    n_rows = len(classes)
    width = min(MAX_WIDTH_IN, 1.6 + 0.55 * k)
    cell_w = (width - 1.6) / k
    fig, ax = plt.subplots(figsize=(width, 1.3 + 0.36 * n_rows))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    big = max(int(shown.max()), 1)
    fontsize = max(4.0, min(8.0, cell_w * 72 / (0.62 * len(str(big)) + 0.6)))
    for r in range(n_rows):
        for c in range(k):
            if shown[r, c]:
                ax.text(
                    c,
                    r,
                    str(shown[r, c]),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if share[r, c] > 0.6 else "black",
                )
    for col, cluster in enumerate(order):
        if cluster in matched:
            ax.add_patch(
                Rectangle(
                    (col - 0.5, matched[cluster] - 0.5),
                    1,
                    1,
                    fill=False,
                    edgecolor="darkorange",
                    linewidth=1.5,
                )
            )
    ax.set_xticks(range(k))
    ax.set_xticklabels([str(c) for c in order], fontsize=7)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels([str(c) for c in classes], fontsize=8)
    ax.set_xlabel("cluster (ordered by the Hungarian matching; outlined: matched digit)")
    ax.set_ylabel("true digit")
    acc = sum(int(table[r, c]) for c, r in matched.items()) / max(int(table.sum()), 1)
    ax.set_title(f"{title}\nHungarian accuracy {acc:.3f}", fontsize=9)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("share of the cluster", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    plots.save(fig, path)


# ------------------------------------------------------------------------------ for the report


def _dataset_spec(frame: pd.DataFrame, env: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """(name, limit, checksum) of the run's dataset: from environment.json (checked by its
    schema, :mod:`mnist_bench.grid.environment`), else results.csv (checked by its own)."""
    config = env.get("config") or {}
    if config.get("dataset") is not None:
        return (
            str(config["dataset"]),
            config.get("limit"),
            (env.get("dataset") or {}).get("checksum"),
        )
    name = str(frame["dataset"].iloc[0])
    everything = frame[frame["split"] == "all"]
    limit = int(everything["n_samples"].iloc[0]) if not everything.empty else None
    return name, limit, None


def load_dataset(frame: pd.DataFrame, env: dict[str, Any], cache: Cache | None = None) -> Any:
    """The dataset a run folder was made from (for its pictures), read from the data or from
    ``cache`` (a generated dataset: never made here; a run folder may come from anywhere)."""
    name, limit, checksum = _dataset_spec(frame, env)
    cache_dir = cache.root if cache is not None else None
    ds = datasets.load(name, limit, cache_dir=cache_dir, generate=False)
    if checksum is not None and ds.checksum != checksum:
        raise UserError(
            f"dataset {name!r} (limit {limit}) now has checksum {ds.checksum}, "
            f"the run recorded {checksum}"
        )
    return ds


def read_labels(
    path: Path, n_images: int, n_expected: int, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The positions and clusters kept in a labels file, checked (a ValueError says how the
    file is damaged): ``n_expected`` positions below ``n_images``, clusters below ``k`` (and
    from -1, noise)."""
    with np.load(path, allow_pickle=False) as npz:
        index, labels = np.asarray(npz["index"]), np.asarray(npz["labels"])
    if not all(a.ndim == 1 and np.issubdtype(a.dtype, np.integer) for a in (index, labels)):
        raise ValueError(f"{path.name} is damaged: positions and labels are not 1-D integers")
    if index.shape != labels.shape or len(index) != n_expected:
        raise ValueError(
            f"{path.name} is damaged: {len(index)} labels where results.csv has {n_expected} images"
        )
    # (-1: noise, a point a backend that chooses its own k left out of every cluster)
    if len(index) and (index.min() < 0 or index.max() >= n_images or labels.min() < NOISE):
        raise ValueError(f"{path.name} is damaged: positions or labels out of range")
    if k is not None and len(labels) and labels.max() >= k:
        raise ValueError(
            f"{path.name} is damaged: cluster {int(labels.max())} where results.csv has k = {k} "
            "(a run recomputes it)"
        )
    return index, labels


def ensure(
    out_dir: Path,
    frame: pd.DataFrame,
    env: dict[str, Any],
    load: Callable[[], Any] | None = None,
    cache: Cache | None = None,
) -> dict[Cell, tuple[str, str]]:
    """Draw the montage and heatmap of every eval cell that lacks them; return the links.

    A picture is redrawn when it is missing or older than its labels file. Pictures already
    there are kept (and linked) even without their labels file; a cell with neither (older
    runs), an unreadable labels file or a dataset that cannot be loaded is left out, with a
    warning for the last two; nothing here raises for them. ``load`` returns the run's dataset
    (default: :func:`load_dataset`), called only when a picture is to be drawn; ``cache``
    keeps the pictures drawn (see :func:`mnist_bench.core.plots.cached`).

    Returns
    -------
    ``{cell: (montage, heatmap)}``: paths relative to ``out_dir``, for every cell whose two
    pictures exist, in the order of :func:`eval_cells`.
    """
    out_dir = Path(out_dir)
    cells = eval_cells(frame)
    todo = [
        c
        for c in cells
        if c.labels(out_dir).is_file()
        and plots.stale(c.labels(out_dir), c.montage(out_dir), c.heatmap(out_dir))
    ]
    if todo:
        try:
            ds = load() if load is not None else load_dataset(frame, env, cache)
        except UserError as exc:
            log.warning("cannot draw the cluster montages and heatmaps: %s", exc)
            ds = None
        if ds is not None:
            for cell in todo:
                try:
                    _draw(cell, out_dir, frame, ds, cache)
                except UNREADABLE as exc:
                    log.warning("no montage or heatmap for %s: %s", cell.stem, exc)
    links = {}
    for cell in cells:
        montage, heatmap = cell.montage(out_dir), cell.heatmap(out_dir)
        if montage.is_file() and heatmap.is_file():
            links[cell] = (
                montage.relative_to(out_dir).as_posix(),
                heatmap.relative_to(out_dir).as_posix(),
            )
    return links


def _draw(cell: Cell, out_dir: Path, frame: pd.DataFrame, ds: Any, cache: Cache | None) -> None:
    rows = frame[
        (frame.split == cell.split)
        & (frame.extractor == cell.extractor)
        & (frame.backend == cell.backend)
        & (frame.k == cell.k)
        & (frame.seed == cell.seed)
    ]
    n_expected = int(rows["n_samples"].iloc[0])
    index, labels = read_labels(cell.labels(out_dir), len(ds), n_expected, cell.k)
    k = max(cell.k, int(labels.max()) + 1 if len(labels) else cell.k)
    y = ds.labels[index]
    classes = np.unique(ds.labels)
    key = {
        "code": plots.code_version(__file__),
        "dataset": ds.checksum,
        "labels": plots.fingerprint(index, labels),
        "k": k,
        "title": cell.title,
    }
    plots.cached(
        cell.montage(out_dir),
        cache,
        lambda path: draw_montage(ds.images[index], y, labels, k, classes, path, cell.title),
        kind="montage",
        **key,
    )
    plots.cached(
        cell.heatmap(out_dir),
        cache,
        lambda path: draw_heatmap(y, labels, k, classes, path, cell.title),
        kind="heatmap",
        **key,
    )

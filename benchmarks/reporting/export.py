"""``mnist-bench export``: one extractor's features of every image, with index, split and label.

The features come from :func:`mnist_bench.grid.extraction.extract` with the same cache as
``mnist-bench run``, so they are the cached ones (computed and cached first when absent). One row
per image of the dataset as ``mnist_bench.data.datasets.load(name, limit)`` loads it: ``index``
(its position there, as in ``OUT/labels/*.npz``), ``split`` (``train`` or ``test``), ``label``
(the true digit) and the feature vector:

- **parquet** / **csv**: typed columns ``f0 .. f{d-1}`` (float32; CSV floats are written with 9
  significant digits, enough to read every float32 back exactly);
- **npz**: arrays ``index`` (int64), ``split`` (unicode), ``label`` (int64), ``features``
  (float32 ``[n, d]``) and ``meta`` (a JSON string).

Parquet files carry the same JSON under the schema metadata key ``mnist_bench``. Every file is
written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import atomic_open, contained
from mnist_bench.core.cache import Cache, default_cache_dir
from mnist_bench.core.errors import UserError
from mnist_bench.core.system import usable_cores
from mnist_bench.data import datasets
from mnist_bench.grid.config import chain_steps, with_threads
from mnist_bench.grid.extraction import extract

FORMATS = ("parquet", "csv", "npz")
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".npz": "npz"}
META_KEY = b"mnist_bench"


def infer_format(out: Path, fmt: str | None) -> str:
    """The format asked for, else the one the file name's suffix names."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UserError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(
            f"cannot tell the format from {str(out)!r}: pass --format {'|'.join(FORMATS)} "
            f"or name the file *.parquet, *.csv or *.npz"
        )
    return SUFFIXES[suffix]


def feature_columns(d: int) -> list[str]:
    return [f"f{i}" for i in range(d)]


def table(index: np.ndarray, split: np.ndarray, label: np.ndarray, X: np.ndarray) -> pd.DataFrame:
    """The export as a frame: index, split, label, then f0..f{d-1} as float32 columns."""
    head = pd.DataFrame(
        {"index": index.astype(np.int64), "split": split, "label": label.astype(np.int64)}
    )
    feats = pd.DataFrame(X.astype(np.float32, copy=False), columns=feature_columns(X.shape[1]))
    return pd.concat([head, feats], axis=1)


def export(
    name: str,
    out: Path,
    dataset: str = "mnist",
    limit: int | None = None,
    fmt: str | None = None,
    cache_dir: Path | None = None,
    params: dict[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Write the features of extractor ``name`` for every image of ``dataset`` to ``out``.

    Parameters
    ----------
    name : extractor (see ``mnist-bench list``), or a chain's name.
    params : its keyword parameters (a chain's: ``steps`` and each step's table).
    threads : the thread count of every step that takes one and sets none (a grid's
        ``threads``; default: all usable cores).
    out : file to write. fmt : ``parquet``, ``csv`` or ``npz`` (default: from ``out``'s suffix).
    dataset, limit : the dataset, and the size of its stratified subset (``None``: all images).
    cache_dir : the feature cache (default: that of ``mnist-bench run``).

    Returns
    -------
    The facts written into the file's metadata (extractor, dataset, shape, whether cached).
    """
    out = Path(out)
    fmt = infer_format(out, fmt)
    if fmt == "parquet":
        _need_pyarrow()
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; name the file to write")
    check_out(out, fmt)
    ds = datasets.load(dataset, limit)
    cache = Cache(cache_dir or default_cache_dir())
    count = threads or usable_cores()
    steps = [(s, with_threads(s, p, count)) for s, p in chain_steps(name, dict(params or {}))]
    feats = extract(ds, steps, cache, name=name)
    meta = {
        "extractor": name,
        "params": params or {},
        "supervised": feats.supervised,
        "dataset": ds.name,
        "limit": limit,
        "dataset_checksum": ds.checksum,
        "n_images": len(ds),
        "feature_dim": int(feats.X.shape[1]),
        "from_cache": feats.cached,
    }
    try:
        WRITERS[fmt](out, ds, feats.X, meta)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return meta


def check_out(out: Path, fmt: str) -> None:
    """Refuse (:class:`UserError`), before any work, an ``--out`` that would overwrite anything
    but an earlier export: a file of a run folder (its results.csv, ...), any other file, or a
    link that leads out of its folder (the rule of :mod:`mnist_bench.core.atomic`)."""
    contained(Path(os.path.abspath(out)).parent, out)
    run = words.run_folder_owning(out)
    if run is not None:
        raise UserError(f"--out {out} is a file of the run folder {run}; name a new file")
    if (out.exists() or out.is_symlink()) and not _is_export(out, fmt):
        raise UserError(
            f"--out {out} exists and is not an earlier {fmt} export; refusing to overwrite it "
            "(name a new file, or remove it first)"
        )


def _is_export(path: Path, fmt: str) -> bool:
    """Whether ``path`` is a plain file holding an export in ``fmt`` (by its first bytes)."""
    if not path.is_file():
        return False
    try:
        if fmt == "npz":
            with zipfile.ZipFile(path) as archive:
                return {"features.npy", "meta.npy"} <= set(archive.namelist())
        if fmt == "csv":
            with open(path, "rb") as fh:
                return fh.read(len(CSV_HEAD)) == CSV_HEAD
        import pyarrow.parquet as pq

        return META_KEY in (pq.read_schema(path).metadata or {})
    except Exception:
        return False


#: The first bytes of a CSV export.
CSV_HEAD = b"index,split,label,"


def _index_and_split(ds: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each image's position in the dataset, and its split (``train`` or ``test``)."""
    return np.arange(len(ds), dtype=np.int64), np.where(ds.is_train, "train", "test")


def write_npz(out: Path, ds: datasets.Dataset, X: np.ndarray, meta: dict[str, Any]) -> None:
    """The npz export: arrays index, split, label, features and meta (a JSON string)."""
    index, split = _index_and_split(ds)
    with atomic_open(out, "wb") as fh:
        np.savez(
            fh,
            index=index,
            split=split.astype("U5"),
            label=ds.labels.astype(np.int64),
            features=X,
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )


def write_csv(out: Path, ds: datasets.Dataset, X: np.ndarray, meta: dict[str, Any]) -> None:
    """The CSV export: the :func:`table` (floats to 9 significant digits); no ``meta``."""
    index, split = _index_and_split(ds)
    frame = table(index, split, ds.labels, X)
    with atomic_open(out, "w") as fh:
        frame.to_csv(fh, index=False, float_format="%.9g")


def write_parquet(out: Path, ds: datasets.Dataset, X: np.ndarray, meta: dict[str, Any]) -> None:
    """The parquet export: the :func:`table`, ``meta`` as JSON under the schema key
    :data:`META_KEY`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    index, split = _index_and_split(ds)
    arrow = pa.Table.from_pandas(table(index, split, ds.labels, X), preserve_index=False)
    schema_meta = {**(arrow.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
    with atomic_open(out, "wb") as fh:
        pq.write_table(arrow.replace_schema_metadata(schema_meta), fh)


#: The writer of each format: ``writer(out, dataset, features, meta)``.
WRITERS = {"npz": write_npz, "csv": write_csv, "parquet": write_parquet}


def _need_pyarrow() -> None:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UserError(
            "parquet export needs pyarrow: pip install 'mnist-bench[export]' "
            "(or choose --format csv or npz)"
        ) from None


def read(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read an export back: ``(frame of index, split, label; features float32 [n, d])``."""
    path = Path(path)
    fmt = infer_format(path, None)
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as npz:
            head = pd.DataFrame(
                {"index": npz["index"], "split": npz["split"], "label": npz["label"]}
            )
            return head, np.asarray(npz["features"])
    if fmt == "csv":
        columns = pd.read_csv(path, nrows=0).columns
        dtypes = {c: np.float32 for c in columns if c.startswith("f") and c[1:].isdigit()}
        frame = pd.read_csv(path, dtype={"index": np.int64, "label": np.int64, **dtypes})
    else:
        frame = pd.read_parquet(path)
    names = [c for c in frame.columns if c.startswith("f") and c[1:].isdigit()]
    return frame[["index", "split", "label"]], frame[names].to_numpy(dtype=np.float32)

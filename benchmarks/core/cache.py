"""The on-disk cache of extracted features and trained models, safe under crashes and concurrency.

Entries are keyed by a hash of everything that determines them (dataset checksum, plug-in name,
parameters and code version, library versions where they matter). Each entry is written
atomically and carries the SHA-256 of its payload; a corrupt entry is discarded with a warning
and recomputed. A per-entry file lock makes concurrent runs wait for each other instead of
computing the same entry twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from mnist_bench.core.atomic import (
    atomic_path,
    checked,
    contained,
    remove,
    remove_stale_temporaries,
    write_text,
)

log = logging.getLogger(__name__)

#: Stored arrays larger than this are returned memory-mapped (read-only) instead of read in.
MMAP_BYTES = 256 << 20


def default_cache_dir() -> Path:
    """``$MNIST_BENCH_CACHE``, else ``~/.cache/mnist-bench``."""
    env = os.environ.get("MNIST_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mnist-bench"


def make_key(**parts: Any) -> str:
    """A short stable hash of JSON-serialisable ``parts``."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file at ``path`` (hex), read block by block."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class Cache:
    """A cache folder with ``features/`` (arrays) and ``models/`` (whatever a plug-in saves)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str, suffix: str = "") -> Path:
        """Where entry ``key`` of ``kind`` lives (the folder is created), refused unless it
        resolves inside the cache folder, links included (:mod:`mnist_bench.core.atomic`)."""
        return checked(self.root / kind / f"{key}{suffix}", self.root)

    @contextlib.contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold the lock of entry ``key``; removes temporaries a killed writer left behind."""
        target = self.path(kind, key)
        lock = contained(self.root, f"{target}.lock", "cache folder")
        with FileLock(str(lock)):
            remove_stale_temporaries(target.parent, prefix=f"{key}.")
            yield

    def has_array(self, key: str) -> bool:
        """Whether an array is stored under ``key`` (not checked: :meth:`array_blocks` does)."""
        return (self.root / "features" / f"{key}.json").is_file()

    def array_blocks(
        self,
        key: str,
        compute: Callable[[], tuple[Iterable[np.ndarray], int, dict[str, Any]]],
        check: Callable[[np.ndarray, dict[str, Any]], None] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any], bool]:
        """Return ``(array, meta, was_cached)`` for ``key``, computing and storing it if needed.

        A stored entry must match its checksum, shape and dtype, and pass ``check`` (which
        raises ValueError for an entry that is not what the caller expects: a row count, finite
        values); otherwise it is discarded with one warning and computed again.

        The array is made block by block and written to disk as it comes. ``compute`` returns
        ``(blocks, n_rows, meta)``: 2-D blocks in row order adding up to
        ``n_rows`` rows, and a JSON-serialisable dict of facts (timings), which may be completed
        while the blocks are drawn; the cache adds the payload's SHA-256, shape and dtype to it.
        Only one block is in memory at a time; the result is memory-mapped when large.
        """
        data_path = self.path("features", key, ".npy")
        meta_path = self.path("features", key, ".json")
        with self.lock("features", key):
            loaded = self._load(data_path, meta_path, check)
            if loaded is not None:
                return (*loaded, True)
            blocks, n_rows, meta = compute()
            with atomic_path(data_path, folder=self.root) as tmp:
                out, filled = None, 0
                for block in blocks:
                    if out is None:
                        shape = (n_rows, *block.shape[1:])
                        out = np.lib.format.open_memmap(tmp, "w+", dtype=block.dtype, shape=shape)
                    if filled + len(block) > n_rows:
                        raise RuntimeError(f"blocks of {key} exceed the {n_rows} rows announced")
                    out[filled : filled + len(block)] = block
                    filled += len(block)
                if out is None or filled != n_rows:
                    raise RuntimeError(f"blocks of {key} gave {filled} rows, not {n_rows}")
                out.flush()
                shape, dtype = list(out.shape), str(out.dtype)
                del out
            meta = {**meta, "sha256": sha256_file(data_path), "shape": shape, "dtype": dtype}
            write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True), folder=self.root)
            return _read(data_path), meta, False

    def _load(
        self,
        data_path: Path,
        meta_path: Path,
        check: Callable[[np.ndarray, dict[str, Any]], None] | None,
    ) -> tuple[np.ndarray, dict[str, Any]] | None:
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError("its description is not a JSON object")
            if sha256_file(data_path) != meta.get("sha256"):
                raise ValueError("checksum mismatch")
            array = _read(data_path)
            if list(array.shape) != meta.get("shape") or str(array.dtype) != meta.get("dtype"):
                raise ValueError("shape or dtype mismatch")
            if check is not None:
                check(array, meta)
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            log.warning("discarding corrupt cache entry %s (%s); recomputing", data_path.name, exc)
            for path in (data_path, meta_path):
                remove(path, folder=self.root)
            return None
        return array, meta


def finite_rows(array: np.ndarray, block: int = 1 << 16) -> bool:
    """Whether every value of a (possibly memory-mapped) array is finite, read block by block."""
    return all(bool(np.isfinite(array[i : i + block]).all()) for i in range(0, len(array), block))


def _read(path: Path) -> np.ndarray:
    """A stored ``.npy``: read into memory, or memory-mapped read-only above :data:`MMAP_BYTES`."""
    mmap = "r" if path.stat().st_size > MMAP_BYTES else None
    return np.load(path, mmap_mode=mmap, allow_pickle=False)

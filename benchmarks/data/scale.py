"""The ``scale`` dataset: a deterministic, augmented MNIST of any size N (InfiniMNIST style).

Image ``i`` is a random affine (rotation, scale, shear, translation) plus elastic (Simard et al.
2003) deformation of one of the 70,000 MNIST images, and carries that image's label. The images
are made in chunks of :data:`CHUNK`; chunk ``c`` draws its parameters from a generator seeded by
``(seed, c, VERSION)`` alone, so any chunk can be produced on its own, in any order and in
parallel, and a smaller N gives a prefix of a larger one. The source of image ``i`` is
``perm[i % 70000]`` for a seeded permutation ``perm`` of MNIST (training images first, then test
images), so every prefix mixes all classes and every source is used equally often.

``is_train`` is True for images made from MNIST's 60,000 training images; the share made from its
10,000 test images (1/7) is held out, so a supervised extractor trained on the ``train`` split
never saw the sources of the ``test`` split.

The images are written chunk by chunk into a ``.npy`` file in the cache folder
(``CACHE/datasets/``, keyed by N, seed, :data:`VERSION` and the MNIST checksum) and returned as a
read-only memory map, so memory stays bounded for any N: 1M images are 784 MB on disk. Beside it
a ``.json`` holds the file's SHA-256, shape and dtype, as the feature cache's entries do: a file
that does not match them (garbled, truncated, or without its checksum) is never used; it is
discarded with one warning and generated again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from filelock import FileLock

from mnist_bench.core.atomic import atomic_path, checked, contained, remove, write_text
from mnist_bench.core.cache import default_cache_dir, sha256_file
from mnist_bench.core.errors import UserError
from mnist_bench.core.system import usable_cores
from mnist_bench.data.datasets import Dataset, load_mnist

log = logging.getLogger(__name__)

#: Bump whenever the same (N, seed) would give other images.
VERSION = 1
#: Images per independently seeded chunk (part of the definition of the images).
CHUNK = 4096
#: Size used when no ``--limit`` is given.
DEFAULT_N = 70_000
#: Deformation ranges: rotation (degrees), per-axis scale, shear, translation (pixels).
ROTATE_DEG = 12.0
SCALE = 0.12
SHEAR = 0.2
SHIFT_PX = 2.0
#: Elastic field: uniform(-1, 1) noise smoothed by a Gaussian of ``ELASTIC_SIGMA``, times ALPHA.
ELASTIC_ALPHA = 20.0
ELASTIC_SIGMA = 4.0


def source_order(n_pool: int, seed: int) -> np.ndarray:
    """The seeded permutation of the pool that image ``i`` takes its source from."""
    return np.random.default_rng([seed, n_pool, VERSION]).permutation(n_pool)


def generate_chunk(pool: np.ndarray, order: np.ndarray, chunk: int, seed: int) -> np.ndarray:
    """Images ``chunk * CHUNK`` to ``(chunk + 1) * CHUNK - 1`` (uint8 ``[CHUNK, h, w]``).

    Depends on ``(pool, order, chunk, seed)`` only: chunks may be made in any order.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    rng = np.random.default_rng([seed, chunk, VERSION])
    n, (h, w) = CHUNK, pool.shape[1:]
    src = order[(chunk * CHUNK + np.arange(n)) % len(pool)]
    images = pool[src].astype(np.float32)

    angle = np.deg2rad(rng.uniform(-ROTATE_DEG, ROTATE_DEG, n))
    scale_r, scale_c = rng.uniform(1 - SCALE, 1 + SCALE, (2, n))
    shear = rng.uniform(-SHEAR, SHEAR, n)
    shift_r, shift_c = rng.uniform(-SHIFT_PX, SHIFT_PX, (2, n))
    noise = rng.uniform(-1, 1, (2, n, h, w)).astype(np.float32)
    field = gaussian_filter(noise, sigma=(0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA), mode="constant")
    field *= ELASTIC_ALPHA

    # Output pixel (r, c) samples the source at M @ (r, c) + shift + field, around the centre,
    # where M = rotation @ shear @ scale (one 2x2 matrix per image).
    cos, sin = np.cos(angle), np.sin(angle)
    m00, m01 = cos * scale_r, (cos * shear - sin) * scale_c
    m10, m11 = sin * scale_r, (sin * shear + cos) * scale_c
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    rows -= (h - 1) / 2
    cols -= (w - 1) / 2

    def per_image(v: np.ndarray) -> np.ndarray:
        return v.astype(np.float32)[:, None, None]

    at_r = per_image(m00) * rows + per_image(m01) * cols + per_image(shift_r) + (h - 1) / 2
    at_c = per_image(m10) * rows + per_image(m11) * cols + per_image(shift_c) + (w - 1) / 2
    at_r += field[0]
    at_c += field[1]
    index = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, h, w))
    out = map_coordinates(
        images, np.stack([index, at_r, at_c]), order=1, mode="constant", cval=0.0, output=np.float32
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def source_indices(n: int, n_pool: int, seed: int) -> np.ndarray:
    """The pool index each of the first ``n`` images is made from."""
    return source_order(n_pool, seed)[np.arange(n) % n_pool]


_POOL: dict[str, np.ndarray] = {}


def _init_worker(pool: np.ndarray, order: np.ndarray) -> None:
    _POOL["pool"], _POOL["order"] = pool, order


def _worker_chunk(chunk: int, seed: int) -> np.ndarray:
    return generate_chunk(_POOL["pool"], _POOL["order"], chunk, seed)


@contextlib.contextmanager
def _chunks(
    pool: np.ndarray, order: np.ndarray, n_chunks: int, seed: int, threads: int
) -> Iterator[Iterator[tuple[int, np.ndarray]]]:
    """``(chunk index, images)`` for every chunk, made by ``threads`` processes (in order)."""
    if threads <= 1 or n_chunks <= 1:
        yield ((c, generate_chunk(pool, order, c, seed)) for c in range(n_chunks))
        return
    with ProcessPoolExecutor(
        max_workers=threads, initializer=_init_worker, initargs=(pool, order)
    ) as executor:
        results = executor.map(_worker_chunk, range(n_chunks), [seed] * n_chunks)
        yield enumerate(results)


def write_images(
    path: Path, pool: np.ndarray, order: np.ndarray, n: int, seed: int, threads: int
) -> None:
    """Generate the first ``n`` images into the ``.npy`` file ``path`` (atomically: a
    temporary of :mod:`mnist_bench.core.atomic`, renamed when complete), then its checksum file
    (:func:`checksum_path`: the entry is complete once that is written)."""
    shape = (n, *pool.shape[1:])
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        n_chunks = -(-n // CHUNK)
        with _chunks(pool, order, n_chunks, seed, threads) as chunks:
            for c, images in chunks:
                start = c * CHUNK
                stop = min(n, start + CHUNK)
                out[start:stop] = images[: stop - start]
        out.flush()
        del out
        digest = sha256_file(tmp)
    meta = {"sha256": digest, "shape": list(shape), "dtype": "uint8"}
    write_text(checksum_path(path), json.dumps(meta, sort_keys=True) + "\n")


def checksum_path(path: Path) -> Path:
    """The file beside the images ``path`` holding their SHA-256, shape and dtype."""
    return path.with_suffix(".json")


def load_scale(
    limit: int | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    threads: int | None = None,
    generate: bool = True,
) -> Dataset:
    """Augmented MNIST of any size (``--limit N``, default 70,000), generated and cached.

    Parameters
    ----------
    limit : number of images N to generate (``--limit``).
    cache_dir : cache folder; the images go to ``cache_dir/datasets`` (default: the suite's).
    seed : generator seed.
    threads : processes generating chunks (default: all usable cores).
    generate : whether images missing from the cache are made (``False``: only those already
        there are read, else a :class:`UserError`; ``mnist-bench report`` generates no data).
    """
    n = DEFAULT_N if limit is None else int(limit)
    if n < 1:
        raise UserError(f"--limit {n} is out of range for dataset 'scale': it must be >= 1")
    mnist = load_mnist()
    pool = np.ascontiguousarray(mnist.images)
    order = source_order(len(pool), seed)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / "datasets"
    checksum = hashlib.sha256(f"scale:{n}:{seed}:{VERSION}:{mnist.checksum}".encode()).hexdigest()
    path = folder / f"scale-n{n}-seed{seed}-v{VERSION}-{checksum[:12]}.npy"
    if not generate:
        images = _open(path, (n, *pool.shape[1:]), remove_bad=False)
        if images is None:
            raise UserError(
                f"the {n:,} images of dataset 'scale' are not in the cache {root} (only "
                "`mnist-bench run` generates them; give its --cache-dir)"
            )
        return _dataset(mnist, images, n, seed, checksum)
    checked(path, root)  # inside the cache folder, links included; its folder made
    with FileLock(str(contained(root, f"{path}.lock", "cache folder"))):
        images = _open(path, (n, *pool.shape[1:]))
        if images is None:
            write_images(path, pool, order, n, seed, threads or usable_cores())
            images = _open(path, (n, *pool.shape[1:]))
            assert images is not None
    return _dataset(mnist, images, n, seed, checksum)


def _dataset(mnist: Dataset, images: np.ndarray, n: int, seed: int, checksum: str) -> Dataset:
    """The ``scale`` dataset of the first ``n`` ``images`` made from ``mnist`` with ``seed``."""
    n_train = int(mnist.is_train.sum())
    src = source_indices(n, len(mnist.images), seed)
    labels = mnist.labels[src].astype(np.int64)
    is_train = src < n_train
    return Dataset("scale", images, labels, is_train, checksum[:16])


def _open(path: Path, shape: tuple[int, ...], remove_bad: bool = True) -> np.ndarray | None:
    """The stored images as a read-only memmap, or None when missing or damaged.

    Damaged (garbled, truncated, of another shape, or without a checksum that matches): never
    used; one warning, and the file and its checksum are removed (unless ``remove_bad`` is
    false) so that they are generated again.
    """
    if not path.exists():
        return None
    try:
        images = _verified(path, shape)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        what = "discarding" if remove_bad else "ignoring"
        again = "; generating it again" if remove_bad else ""
        log.warning("%s the damaged generated dataset %s (%s)%s", what, path, exc, again)
        if remove_bad:
            remove(path)
            remove(checksum_path(path))
        return None
    return images


def _verified(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The images at ``path`` after checking them against their checksum file (ValueError
    naming what does not match)."""
    sums = checksum_path(path)
    if not sums.is_file():
        raise ValueError(f"no checksum file {sums.name}")
    meta = json.loads(sums.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError(f"{sums.name} is not a JSON object")
    if meta.get("shape") != list(shape) or meta.get("dtype") != "uint8":
        raise ValueError(f"{sums.name} describes other images")
    if sha256_file(path) != meta.get("sha256"):
        raise ValueError("checksum mismatch")
    images = np.load(path, mmap_mode="r", allow_pickle=False)
    if images.shape != shape or images.dtype != np.uint8:
        raise ValueError(f"images of shape {images.shape} and dtype {images.dtype}, not {shape}")
    return images

"""Datasets: loaders registered in the ``mnist_bench.datasets`` entry-point group, each returning a
:class:`Dataset` of uint8 images.

``mnist`` reads the four IDX files in ``data/mnist`` (or ``$MNIST_DATA_DIR``) and verifies the
SHA-256 of their decompressed content against ``SHA256SUMS.content``; ``digits`` is
scikit-learn's bundled 8x8 digits for fast tests. A dataset knows which images are training
images, so a supervised extractor is fitted on those only and the ``test`` split stays unseen.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_bench.core.errors import UserError, unknown
from mnist_bench.core.registry import Registry
from mnist_bench.core.vocabulary import SPLITS

#: Loaders by name. A loader takes no argument and returns the whole dataset, which ``--limit``
#: subsets; a generated dataset's loader takes ``limit`` and ``cache_dir`` and makes that many.
DATASETS = Registry("dataset", "mnist_bench.datasets")

_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", 0x00000803),
    "train_labels": ("train-labels-idx1-ubyte", 0x00000801),
    "test_images": ("t10k-images-idx3-ubyte", 0x00000803),
    "test_labels": ("t10k-labels-idx1-ubyte", 0x00000801),
}


@dataclass(frozen=True)
class Dataset:
    """Images with labels; ``is_train`` marks the images a supervised extractor may learn from.

    Attributes
    ----------
    name : registry name of the dataset.
    images : uint8 array ``[n, h, w]``.
    labels : int64 array ``[n]``.
    is_train : bool array ``[n]``.
    checksum : hex digest identifying the content (data files and any subset taken).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    is_train: np.ndarray
    checksum: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return int(np.unique(self.labels).size)

    def mask(self, split: str) -> np.ndarray:
        """Boolean mask of the images in ``split`` (``all``, ``train`` or ``test``)."""
        if split == "all":
            return np.ones(len(self), dtype=bool)
        if split == "train":
            return self.is_train.copy()
        if split == "test":
            return ~self.is_train
        raise unknown("split", split, SPLITS)

    def subset(self, limit: int | None, seed: int = 0) -> Dataset:
        """A deterministic stratified subset of ``limit`` images (all images when None).

        Every class keeps its share (largest-remainder rounding); within a class the images are
        drawn by a fixed seed and kept in their original order.
        """
        if limit is None or limit == len(self):
            return self
        n_classes = self.n_classes
        if not n_classes <= limit <= len(self):
            raise UserError(
                f"--limit {limit} is out of range for dataset {self.name!r}: "
                f"it must be between {n_classes} (the number of classes) and {len(self)}"
            )
        idx = stratified_indices(self.labels, limit, seed)
        digest = hashlib.sha256(f"{self.checksum}:{limit}:{seed}".encode()).hexdigest()
        return Dataset(
            self.name, self.images[idx], self.labels[idx], self.is_train[idx], digest[:16]
        )


def stratified_indices(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a stratified sample of ``limit`` items of ``labels``."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * limit / counts.sum()
    take = np.maximum(np.floor(exact).astype(int), 1)
    # Hand out what is left by largest remainder (ties: lower class first), never above counts.
    while take.sum() < limit:
        room = np.where(take < counts, exact - take, -np.inf)
        take[int(np.argmax(room))] += 1
    while take.sum() > limit:
        take[int(np.argmax(take - exact))] -= 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=t, replace=False)
        for c, t in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def mnist_dir() -> Path:
    """Where the MNIST IDX files are: ``$MNIST_DATA_DIR``, else the project's ``data/mnist``."""
    env = os.environ.get("MNIST_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "data" / "mnist"
    return here if here.is_dir() else Path.cwd() / "data" / "mnist"


def _read_sums(folder: Path) -> dict[str, str]:
    """``SHA256SUMS.content``: one ``<64 hex digits> <file name>`` per line (sha256sum's format)."""
    sums_file = folder / "SHA256SUMS.content"
    if not sums_file.is_file():
        raise UserError(f"MNIST checksum file missing: {sums_file}")
    try:
        text = sums_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the checksum file {sums_file}: {exc}") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if (
            len(fields) != 2
            or len(fields[0]) != 64
            or any(c not in "0123456789abcdefABCDEF" for c in fields[0])
        ):
            raise UserError(
                f"{sums_file}, line {number}: expected '<SHA-256 in 64 hex digits> <file name>', "
                f"got {line.strip()[:80]!r}"
            )
        sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums


def read_idx(path: Path, expected_sha256: str, expected_magic: int) -> np.ndarray:
    """Read one gzip-compressed IDX file, verifying its decompressed content and header."""
    if not path.is_file():
        raise UserError(f"MNIST file missing: {path}")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"MNIST file {path} is corrupted or truncated ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise UserError(
            f"MNIST file {path} failed its checksum: SHA-256 of the content is {digest[:12]}..., "
            f"expected {expected_sha256[:12]}... (corrupted, truncated or not the original file)"
        )
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise UserError(
            f"MNIST file {path} has IDX magic {magic:#010x}, expected {expected_magic:#010x}"
        )
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    payload = len(raw) - 4 - 4 * ndim
    if payload < 0 or payload != int(np.prod(dims)):
        raise UserError(
            f"MNIST file {path}: its IDX header announces {'x'.join(map(str, dims))} values, "
            f"the file holds {max(payload, 0)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist() -> Dataset:
    """MNIST, 70,000 28x28 digits from data/mnist (checksummed IDX files).

    The 60,000 training images come first, then the 10,000 test images."""
    folder = mnist_dir()
    sums = _read_sums(folder)
    arrays = {}
    for key, (stem, magic) in _MNIST_FILES.items():
        if stem not in sums:
            raise UserError(f"no checksum for {stem} in {folder / 'SHA256SUMS.content'}")
        arrays[key] = read_idx(folder / f"{stem}.gz", sums[stem], magic)
    for part in ("train", "test"):
        n_images, n_labels = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if arrays[f"{part}_images"].ndim != 3 or n_images != n_labels:
            raise UserError(
                f"MNIST {part} files in {folder} do not match: {n_images} images, {n_labels} labels"
            )
    images = np.concatenate([arrays["train_images"], arrays["test_images"]])
    labels = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64)
    is_train = np.arange(len(labels)) < len(arrays["train_labels"])
    checksum = hashlib.sha256("".join(sorted(sums.values())).encode()).hexdigest()[:16]
    return Dataset("mnist", images, labels, is_train, checksum)


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits, 1,797 images (fast tests).

    Grey levels 0..16 are scaled to 0..255. The first 80% of each class (in file order) are the
    training images.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    is_train = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        is_train[idx[: int(0.8 * len(idx))]] = True
    checksum = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()[:16]
    return Dataset("digits", images, labels, is_train, checksum)


def load(
    name: str,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    generate: bool = True,
) -> Dataset:
    """Load dataset ``name``, optionally as a deterministic stratified subset of ``limit``.

    A generated dataset (its loader takes ``limit``, as ``scale`` does) is instead made with
    ``limit`` images, stored under ``cache_dir`` (default: the suite's cache folder). With
    ``generate`` false (``mnist-bench report``) only images already in ``cache_dir`` are read:
    a loader that cannot promise that (it takes no ``generate``) is not called.
    """
    loader = DATASETS.load(name)
    params = inspect.signature(loader).parameters
    if "limit" in params:
        if generate:
            return loader(limit, cache_dir=cache_dir)  # type: ignore[call-arg]
        if "generate" not in params:
            raise UserError(f"dataset {name!r} is generated on demand: only a run makes it")
        return loader(limit, cache_dir=cache_dir, generate=False)  # type: ignore[call-arg]
    return loader().subset(limit)

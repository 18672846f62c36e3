"""Chunked feature extraction: an extractor's ``transform`` applied block by block over the images.

The images (possibly a memory map larger than RAM) are read :data:`BLOCK` at a time and the
feature blocks come back in row order, so the caller can write them straight to disk and memory
stays bounded by a few blocks. With ``threads > 1`` an unsupervised extractor runs in that many
worker processes (the extractor is pickled once per worker); supervised ones (a trained CNN)
run in this process, block after block. Extractors map each image on its own, so the features do
not depend on the block size or the worker count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

#: Images per block handed to ``transform``.
BLOCK = 8192

_WORKER: dict[str, Any] = {}


def _init(extractor: Any) -> None:
    _WORKER["extractor"] = extractor


def _transform(images: np.ndarray) -> np.ndarray:
    return _as_features(_WORKER["extractor"].transform(images))


def _as_features(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float32)


def transform_blocks(
    extractor: Any, images: np.ndarray, threads: int = 1, block: int = BLOCK
) -> Iterator[np.ndarray]:
    """Float32 features of ``images``, block after block in row order.

    Parameters
    ----------
    extractor : a fitted extractor (``transform(uint8 [n, h, w]) -> [n, d]``).
    images : uint8 ``[n, h, w]``, in memory or memory-mapped.
    threads : worker processes for an unsupervised extractor (1: in this process).
    block : images per block.
    """
    starts = range(0, len(images), block)
    if threads <= 1 or extractor.supervised or len(starts) <= 1:
        for start in starts:
            yield _as_features(extractor.transform(np.asarray(images[start : start + block])))
        return
    with ProcessPoolExecutor(max_workers=threads, initializer=_init, initargs=(extractor,)) as pool:
        pending: deque[Future[np.ndarray]] = deque()
        for start in starts:
            # At most two blocks per worker in flight, so memory stays bounded.
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
            pending.append(pool.submit(_transform, np.asarray(images[start : start + block])))
        while pending:
            yield pending.popleft().result()

"""Crash-safe file writes: every file the suite writes goes through a temporary file + rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

#: The longest file name most file systems take, in bytes.
NAME_MAX = 255


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Give a writer a temporary sibling of ``path``; rename it over ``path`` on success.

    A crash (even SIGKILL) leaves either the old file or the new one, never a half-written one;
    on an exception the temporary file is removed. ``suffix`` (which must start with ``.tmp``)
    serves writers that insist on an extension, such as Keras' ``.keras``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{_shortened(path.name, NAME_MAX - 12 - len(suffix.encode()))}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Save ``arrays`` as an ``.npz`` (``np.load`` reads it), deflated at level 1, atomically.

    ``np.savez_compressed`` deflates at zlib's default level 6: on a cell's label file (70,000
    positions and labels) 60 ms against 8 ms at level 1, for 3 % fewer bytes.
    """
    with (
        atomic_open(path, "wb") as fh,
        zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
    ):
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _shortened(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` bytes of UTF-8 (a temporary's name must stay legal)."""
    encoded = name.encode()
    return name if len(encoded) <= limit else encoded[:limit].decode(errors="ignore")


def remove_stale_temporaries(
    folder: str | os.PathLike[str], prefix: str = "", recursive: bool = False
) -> None:
    """Remove the temporary files that killed writers of ``folder/prefix*`` left behind
    (in every subfolder too when ``recursive``).

    Call it only while holding the lock that guards those files, so no live writer is affected.
    """
    pattern = f".{prefix}*.tmp*"
    found = Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern)
    for tmp in list(found):
        with contextlib.suppress(OSError):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()

"""How much memory this process may still take: the least of what each limit on it leaves.

The limits read: the machine's available memory (``psutil.virtual_memory().available``, else
``MemAvailable`` in ``/proc/meminfo``), the cgroup's limit less its usage (cgroup v2
``memory.max`` and ``memory.current``, or v1 ``memory.limit_in_bytes`` and
``memory.usage_in_bytes``), the address-space limit (``RLIMIT_AS``) less this process's
virtual size and what the libraries' threads will still reserve (:data:`THREAD_RESERVE` a CPU:
out of address space in a thread it starts, OpenBLAS retries its buffer for ever and OpenMP
aborts, where no ``MemoryError`` is raised), and ``$MNIST_BENCH_MEMORY_LIMIT`` (a size such as
``2G``, ``512M`` or a number of bytes), which caps the answer where no other limit applies
(tests, a shared machine).
"""

from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

from mnist_bench.core.errors import UserError

#: The environment variable that caps the memory the suite assumes it may use.
ENV = "MNIST_BENCH_MEMORY_LIMIT"
CGROUP = Path("/sys/fs/cgroup")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
#: Address space each thread a library starts later reserves (its stack, a malloc arena,
#: OpenBLAS' buffer): counted once a CPU against ``RLIMIT_AS`` only, as it is not memory used.
THREAD_RESERVE = 128 << 20


@dataclass(frozen=True)
class Available:
    """Bytes this process may still allocate, and which limit said so."""

    bytes: int
    source: str


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5GiB"``, ``"100000"`` as bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise UserError(f"${ENV} must be a size such as 2G, 512M or 100000, got {text!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def gb(n_bytes: float) -> str:
    """Bytes in GB (10^9), with two significant digits for small amounts."""
    value = n_bytes / 1e9
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def machine() -> int | None:
    """The machine's available memory (page cache that can be dropped included)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_dirs(controller: str) -> list[Path]:
    """This process's cgroup folders (v2 with ``""``, v1 with ``"memory"``): own, then root."""
    root = CGROUP if not controller else CGROUP / controller
    dirs = []
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if names == controller or (controller and controller in names.split(",")):
                dirs.append(root / path.strip().lstrip("/"))
    except (OSError, ValueError):
        pass
    return [*dirs, root]


def cgroup() -> int | None:
    """What the cgroup's memory limit leaves (limit less usage), or None without a limit."""
    for folder in _cgroup_dirs(""):
        limit = _read_int(folder / "memory.max")
        if limit is not None:
            return max(0, limit - (_read_int(folder / "memory.current") or 0))
    for folder in _cgroup_dirs("memory"):
        limit = _read_int(folder / "memory.limit_in_bytes")
        if limit is not None and limit < 1 << 60:  # v1 writes a huge number for "no limit"
            return max(0, limit - (_read_int(folder / "memory.usage_in_bytes") or 0))
    return None


def address_space() -> int | None:
    """What ``RLIMIT_AS`` leaves to this process (limit less its virtual size and what the
    libraries' threads will still reserve), or None."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used - THREAD_RESERVE * (os.cpu_count() or 1))


def available() -> Available:
    """The least that any limit leaves (see the module's docstring)."""
    found = {
        "available memory": machine(),
        "cgroup memory limit": cgroup(),
        "address-space limit (RLIMIT_AS)": address_space(),
    }
    if os.environ.get(ENV):
        found[f"${ENV}"] = parse_size(os.environ[ENV])
    limits = {source: n for source, n in found.items() if n is not None}
    if not limits:
        return Available(1 << 62, "no limit known")
    source = min(limits, key=lambda name: limits[name])
    return Available(limits[source], source)

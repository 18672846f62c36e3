"""What is needed to repeat a run: versions, threads and BLAS, CPU, data and config, git state,
and the machine's measured memory bandwidth (the floor under a k-means iteration's time)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from mnist_bench.core import numerics
from mnist_bench.core import vocabulary as words
from mnist_bench.core.own_files import read_checked
from mnist_bench.core.system import cpu_model
from mnist_bench.data.datasets import Dataset
from mnist_bench.grid.config import GridConfig

PACKAGES = (
    "mnist-bench",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "scikit-image",
    "faiss-cpu",
    "tensorflow",
    "keras",
    "dask",
    "distributed",
    "dask-ml",
    "threadpoolctl",
    "kneed",
    "tabulate",
    "matplotlib",
    "pytest-benchmark",
)
ROOT = Path(__file__).resolve().parents[2]
#: Size of the array the memory bandwidth is measured on: well beyond the caches (8 times the
#: 32 MiB L3 of the development machine), small enough to allocate in a few hundredths of a second.
BANDWIDTH_BYTES = 256 << 20
#: The smallest array it falls back to when memory is short (a tight ``ulimit -v``).
MIN_BANDWIDTH_BYTES = 32 << 20
#: Passes over it; the fastest counts.
BANDWIDTH_PASSES = 5


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the suite uses (those not installed are left out)."""
    versions = {}
    for dist in PACKAGES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state() -> dict[str, Any]:
    """The commit of the source tree and whether it had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit:
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": commit, "dirty": bool(status) if status is not None else None}
    # no checkout (the Docker image): the commit the image was built from, if the build said it
    built = os.environ.get("MNIST_BENCH_GIT_COMMIT", "")
    dirty = os.environ.get("MNIST_BENCH_GIT_DIRTY", "").lower()
    if built and built != "unknown":
        return {
            "commit": built,
            "dirty": {"true": True, "false": False}.get(dirty),
            "from": "image",
        }
    return {"commit": None, "dirty": None}


def threadpools() -> list[dict[str, Any]]:
    """BLAS and OpenMP libraries loaded, with their thread counts (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def memory_bandwidth(
    threads: int = 1, nbytes: int = BANDWIDTH_BYTES, passes: int = BANDWIDTH_PASSES
) -> dict[str, Any]:
    """This machine's streaming read bandwidth, in bytes per second, as numpy reaches it.

    The fastest of ``passes`` reads of a float32 array of ``nbytes`` (numpy's ``max``, which
    touches every byte once and keeps nothing), split among ``threads`` threads (numpy releases
    the GIL in the reduction). A k-means iteration reads all of X at least once, so n x d x 4
    bytes over this figure is the floor under its time. Takes a fraction of a second.
    """
    threads = max(1, threads)
    try:
        data = np.empty(nbytes // 4, dtype=np.float32)
    except MemoryError:  # a tight limit: a smaller array (still larger than the caches)
        if nbytes // 4 < MIN_BANDWIDTH_BYTES:
            raise
        return memory_bandwidth(threads, nbytes // 4, passes)
    data.fill(1.0)  # touch every page before timing
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(passes):
            start = time.perf_counter()
            list(pool.map(np.max, parts))
            best = min(best, time.perf_counter() - start)
    return {
        "bytes_per_s": data.nbytes / best,
        "array_bytes": int(data.nbytes),
        "passes": passes,
        "threads": threads,
        "method": "numpy max over a float32 array larger than the caches, fastest pass",
    }


def collect(cfg: GridConfig, ds: Dataset, unpinned: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything environment.json records about a run (``unpinned``: extractor -> why its
    features are not the same on every CPU model, recorded with the numerics)."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["mnist-bench", *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "n_cpus": os.cpu_count(),
        "threads": cfg.threads_in_use,
        "threadpools": threadpools(),
        "numerics": {**numerics.record(), "unpinned_extractors": dict(unpinned or {})},
        "packages": package_versions(),
        "dataset": {"name": ds.name, "n_images": len(ds), "checksum": ds.checksum},
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "git": git_state(),
        "memory_bandwidth": memory_bandwidth(cfg.threads_in_use),
    }


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Git(_Open):
    commit: str | None = None
    dirty: bool | None = None


class Threadpool(_Open):
    internal_api: str | None = None
    version: str | None = None
    num_threads: int | None = None


class Bandwidth(_Open):
    bytes_per_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    array_bytes: int = 0
    passes: int | None = None
    threads: int | None = None


def _name(value: str) -> str:
    if not words.is_name(value):
        raise ValueError(f"{value!r} is not a plug-in name ({words.NAME_RULE})")
    return value


#: A dataset's name as a run records it, and a number of images a run can have clustered.
DatasetName = Annotated[StrictStr, AfterValidator(_name)]
Images = Annotated[StrictInt, Field(ge=1, le=words.MAX_IMAGES)]


class DatasetRecord(_Open):
    """What a run recorded of its dataset (the report reloads it for the pictures)."""

    name: DatasetName | None = None
    n_images: Images | None = None
    checksum: Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z]{1,128}$")] | None = None


class ConfigRecord(_Open):
    """What the report reads of a run's config: which dataset, how many images."""

    dataset: DatasetName | None = None
    limit: Images | None = None


class Environment(_Open):
    """What the report reads of environment.json (other keys are kept as they are).

    A run folder may come from anywhere: the dataset's name and size, from which the report
    reloads the images for its pictures, are checked as strictly as a config's.
    """

    date: str = "unknown"
    command: str | None = None
    cpu: str = "unknown"
    threads: int | None = None
    threadpools: list[Threadpool] = Field(default_factory=list)
    packages: dict[str, str] = Field(default_factory=dict)
    dataset: DatasetRecord = Field(default_factory=DatasetRecord)
    config: ConfigRecord = Field(default_factory=ConfigRecord)
    config_hash: str | None = None
    git: Git = Field(default_factory=Git)
    memory_bandwidth: Bandwidth | None = None


def read(path: Path) -> dict[str, Any]:
    """A run's environment.json, checked (``{}`` when missing or damaged, with a warning)."""
    return read_checked(path, Environment)

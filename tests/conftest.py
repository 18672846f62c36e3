"""Shared fixtures: a temporary cache, a CLI runner in a subprocess, small datasets.

The 2-D map layouts (a seeded UMAP of the pixels, 15-30 s each in a fresh process, almost all
of it numba compiling) are pooled across the session: :func:`run_cli` copies the layouts
already made into the ``--cache-dir`` of a run, where absent, and takes back the new ones.
:func:`seed_layouts` lays a dataset's out in this process, where numba compiles once for the
whole session (the in-process runs and the UMAP tests reuse it), before the first run that
needs it. Every other cache entry stays the test's own, so the tests still run from their cold
caches.

Tests marked ``ci`` (subprocess-heavy cases, scikit-learn's estimator checks) are left out of
the default run; CI runs them too, with ``pytest -m ci``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mnist_bench ARGS`` in a subprocess, as a user would from a shell."""
    full_env = {**os.environ, **(env or {})}
    cache = _cache_arg(args)
    with _POOL_LOCK:
        lent = _copy_layouts(LAYOUT_POOL, cache) if cache is not None else []
    done = subprocess.run(
        [sys.executable, "-m", "mnist_bench", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if cache is not None and done.returncode == 0:
        with _POOL_LOCK:
            _copy_layouts(cache, LAYOUT_POOL)
    if done.returncode != 0:  # a refused run must be seen to leave nothing: take back the loan
        for path in reversed(lent):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)
    return done


def run_cli_all(
    commands: list[tuple[str, ...]], **kwargs: Any
) -> list[subprocess.CompletedProcess[str]]:
    """:func:`run_cli` of each of ``commands`` (independent of each other), as many at a time as
    there are CPUs: most of each is the interpreter starting and importing, on one core."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda args: run_cli(*args, **kwargs), commands))


#: The session's pool of map layouts (removed at the end of the session).
LAYOUT_POOL = Path(tempfile.mkdtemp(prefix="mnist-bench-layouts-"))
_POOL_LOCK = threading.Lock()


def lend_layouts(cache: Path) -> None:
    """Copy the session's map layouts into ``cache`` (for a run started without :func:`run_cli`)."""
    with _POOL_LOCK:
        _copy_layouts(LAYOUT_POOL, cache)


def seed_layouts(dataset: str, limit: int | None = None) -> None:
    """Put the 2-D map layout of split ``all`` of ``dataset`` (``limit`` images) in the pool,
    laid out in this process by the function a run calls, unless the pool has it already.

    A run that draws a map of all its images (every run of split ``all``, up to
    ``maps.N_POINTS`` images) then finds it in its cache: the tests that run the CLI in
    subprocesses do not each pay numba's compilation (see the module docstring).
    """
    from mnist_bench.core.cache import Cache
    from mnist_bench.data.datasets import load
    from mnist_bench.reporting import maps

    ds = load(dataset, limit)
    with _POOL_LOCK, tempfile.TemporaryDirectory() as scratch:
        sample = maps._sample(np.arange(len(ds)))
        maps._layout(Path(scratch), "all", sample, ds, Cache(LAYOUT_POOL))


def _cache_arg(args: tuple[str, ...]) -> Path | None:
    """The ``--cache-dir`` of a ``run`` or ``report`` command, if it names a folder."""
    if not args or args[0] not in ("run", "report") or "--cache-dir" not in args[:-1]:
        return None
    return Path(args[args.index("--cache-dir") + 1])


def _copy_layouts(source: Path, target: Path) -> list[Path]:
    """Copy the finished map-layout entries of cache ``source`` into ``target`` where absent;
    returns what it created (folders first)."""
    made: list[Path] = []
    if not target.parent.is_dir():
        return made
    for meta in sorted((source / "features").glob("*.json")):
        data = meta.with_suffix(".npy")
        try:
            sidecar = json.loads(meta.read_text())
            whole = hashlib.sha256(data.read_bytes()).hexdigest() == sidecar["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if sidecar.get("kind") != "map-layout" or not whole:
            continue
        if (target / "features" / meta.name).exists():
            continue
        for folder in (target, target / "features"):
            if not folder.exists():
                folder.mkdir(parents=True)
                made.append(folder)
        shutil.copy2(data, target / "features" / data.name)
        shutil.copy2(meta, target / "features" / meta.name)  # the sidecar last: complete entry
        made += [target / "features" / data.name, target / "features" / meta.name]
    return made


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(LAYOUT_POOL, ignore_errors=True)


@pytest.fixture
def cli():
    return run_cli


@contextlib.contextmanager
def no_pictures() -> Iterator[None]:
    """Within the block, runs and renders draw no montages, heatmaps or maps (other tests
    cover those)."""
    from mnist_bench.reporting import maps, visuals

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(visuals, "ensure", lambda *_, **__: {})
        mp.setattr(maps, "ensure", lambda *_, **__: {})
        yield


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``mnist-bench ARGS`` in this process, pictures left out (an uncaught exception fails the
    test as a traceback would)."""
    from mnist_bench.cli import main

    capsys.readouterr()
    with no_pictures():
        status = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), status, out, err)


def refused(done: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The one error line of a refused command (exit ``status``, no traceback)."""
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("mnist-bench:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def run_toml_in_process(folder: Path, toml: str) -> Path:
    """Run the grid of config text ``toml`` in this process into ``folder/out`` (cache
    ``folder/cache``) with :func:`no_pictures`; returns the output folder."""
    from mnist_bench.cli import main

    (folder / "grid.toml").write_text(toml)
    out = folder / "out"
    args = ["run", "--config", str(folder / "grid.toml"), "--out", str(out)]
    with no_pictures():
        assert main([*args, "--cache-dir", str(folder / "cache")]) == 0
    return out

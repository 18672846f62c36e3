"""Portable numerics: the pins, and proof on one machine that they make it compute like another.

"Another machine" is this one with each library held one instruction-set level lower
(:func:`mnist_bench.core.numerics.lower_machine`: no AVX-512, or no AVX2 where there is none).
Without the pins that changes the numbers, so these tests can fail; with them it must not.
The OpenBLAS variables stay as the environment sets them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from mnist_bench.core import numerics
from mnist_bench.core.errors import UserError
from mnist_bench.features.raw import Raw

ROOT = Path(__file__).resolve().parents[1]
LEVEL_PROBLEM = numerics.level_problem(os.uname().machine, numerics.cpu_flags())
needs_level = pytest.mark.skipif(LEVEL_PROBLEM is not None, reason=str(LEVEL_PROBLEM))


@pytest.fixture(autouse=True)
def _own_state(monkeypatch) -> None:
    """What the tests pin in this process is forgotten afterwards."""
    monkeypatch.setattr(numerics, "_STATE", numerics._STATE)


# ----------------------------------------------------------------------------- the pins alone


def test_portable_sets_every_pin_and_keeps_the_openblas_variables(monkeypatch) -> None:
    monkeypatch.setattr(numerics, "level_problem", lambda *_: None)
    env = {"OPENBLAS_CORETYPE": "Zen", "NUMBA_CPU_NAME": "znver3", "NPY_DISABLE_CPU_FEATURES": "X"}
    state = numerics.pin(numerics.PORTABLE, env, modules={})
    assert env["OPENBLAS_CORETYPE"] == "Zen"  # the environment's value, never changed
    assert state.kept == {"OPENBLAS_CORETYPE": "Zen"}
    assert env["NUMBA_CPU_NAME"] == numerics.LEVEL and env["NUMBA_CPU_FEATURES"] == ""
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["FAISS_SIMD_LEVEL"] == "AVX2"
    assert "NPY_DISABLE_CPU_FEATURES" not in env and env["NPY_ENABLE_CPU_FEATURES"]
    assert state.replaced == {"NUMBA_CPU_NAME": "znver3", "NPY_DISABLE_CPU_FEATURES": "X"}
    assert "OPENBLAS_L2_SIZE" not in env


def test_portable_sets_openblas_only_where_the_environment_does_not(monkeypatch) -> None:
    monkeypatch.setattr(numerics, "level_problem", lambda *_: None)
    env: dict[str, str] = {}
    numerics.pin(numerics.PORTABLE, env, modules={})
    assert env["OPENBLAS_CORETYPE"] == "Haswell"


def test_native_and_a_cpu_below_the_level_pin_nothing(monkeypatch) -> None:
    env: dict[str, str] = {}
    assert numerics.pin(numerics.NATIVE, env, modules={}).set == {} and env == {}
    monkeypatch.setattr(numerics, "level_problem", lambda *_: "this CPU lacks avx2")
    state = numerics.pin(numerics.PORTABLE, env, modules={})
    assert env == {} and state.unpinned == "this CPU lacks avx2"
    assert numerics.record()["unpinned_because"] == "this CPU lacks avx2"
    assert not numerics.in_effect()


def test_pins_set_after_a_library_loaded_are_not_claimed(monkeypatch) -> None:
    monkeypatch.setattr(numerics, "level_problem", lambda *_: None)
    numerics.pin(numerics.PORTABLE, {}, modules={"numpy": object()})
    record = numerics.record()
    assert record["pinned"] is False and record["loaded_before_pins"] == ["numpy"]
    assert record["fingerprint"].startswith(numerics.NATIVE)


def test_the_level_needs_x86_64_with_avx2_and_fma() -> None:
    flags = numerics.LEVEL_FLAGS
    assert numerics.level_problem("x86_64", flags) is None
    assert "avx2" in numerics.level_problem("x86_64", flags - {"avx2"})
    assert "aarch64" in numerics.level_problem("aarch64", flags)


def test_mode_from_flag_then_environment_else_portable() -> None:
    assert numerics.choose_mode(None, {}) == numerics.PORTABLE
    assert numerics.choose_mode(None, {numerics.MODE_ENV: "native"}) == numerics.NATIVE
    assert numerics.choose_mode("portable", {numerics.MODE_ENV: "native"}) == numerics.PORTABLE
    with pytest.raises(UserError, match="--numerics must be one of portable, native"):
        numerics.choose_mode("fast", {})


def test_pinned_block_restores_the_environment() -> None:
    before = dict(os.environ)
    with numerics.pinned(numerics.PORTABLE):
        pass
    assert dict(os.environ) == before


def test_a_bad_mode_is_one_line_and_exit_2(cli, tmp_path: Path) -> None:
    done = cli("run", "--numerics", "fast", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "mnist-bench: error: --numerics must be one of portable, native, got 'fast'"
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- the pins, as a run records them


@needs_level
def test_a_run_records_the_pins_in_effect(cli, tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    done = cli(
        "run", "--dataset", "digits", "--features", "raw", "--backends", "sklearn,faiss",
        "--k", "10", "--seeds", "0", "--out", str(out), "--cache-dir", str(cache_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "environment.json").read_text())["numerics"]
    # OpenBLAS' kernels are the environment's where it sets them (never changed), else Haswell
    kernels = os.environ.get("OPENBLAS_CORETYPE") or "Haswell"
    portable = kernels.lower() == "haswell"
    assert record["mode"] == "portable" and record["pinned"] is portable
    other = "" if portable else f":openblas={kernels}"
    assert record["fingerprint"] == f"portable:{numerics.LEVEL}{other}"
    chosen = record["chosen"]
    assert chosen["numpy"] == ["X86_V3"]
    assert {k.lower() for k in chosen["openblas"].values()} == {kernels.lower()}
    assert chosen["faiss"] == "AVX2"
    frame = __import__("pandas").read_csv(out / "results.csv")
    assert (frame["pinned"] == portable).all()
    assert frame["features_sha256"].str.fullmatch("[0-9a-f]{16}").all()


# ------------------------------------------------------- one machine made to look like another

#: A tiny job per library, started as the suite starts (``numerics.pinned`` first, then the
#: imports): numba's fastmath distance of pynndescent (UMAP's neighbour graph), numpy's float64
#: logarithm and exponential (the GMM, NMI), FAISS' k-means. Prints a digest per library.
PROBE = """
import hashlib, sys
from mnist_bench.core import numerics
with numerics.pinned(sys.argv[1]):
    import numpy as np
    from pynndescent.distances import squared_euclidean
    import faiss
    rng = np.random.default_rng(0)
    X = rng.random((64, 784), dtype=np.float32)
    d = np.array([squared_euclidean(a, b) for a in X for b in X], dtype=np.float32)
    x = rng.uniform(0.01, 10, 4096)
    km = faiss.Kmeans(784, 4, niter=5, seed=1)
    km.train(X)
    logs = np.log(x) + np.exp(x / 10)
    for name, array in (("numba", d), ("numpy", logs), ("faiss", km.centroids)):
        print(name, hashlib.sha256(array.tobytes()).hexdigest()[:16])
"""


def _clean_environment(lower: bool) -> dict[str, str]:
    """This process's environment without kernel choices of its own (the OpenBLAS ones kept),
    plus a lower machine's when ``lower``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in numerics.KERNEL_VARIABLES or k in numerics.KEPT
    }
    env.pop(numerics.MODE_ENV, None)
    return {**env, **(numerics.lower_machine() if lower else {})}


def _probe(mode: str, lower: bool) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env=_clean_environment(lower),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split() for line in done.stdout.splitlines() if line.strip())


@pytest.mark.ci  # about 35 s each; .ci/same-numbers.sh checks the same on 6,000 images
@needs_level
def test_pinned_libraries_compute_on_a_lower_machine_as_here() -> None:
    here, lower = _probe("native", False), _probe("native", True)
    changed = {name for name in here if here[name] != lower[name]}
    # numba and numpy change with the level (FAISS' own loops agree here: pinned all the same)
    assert {"numba", "numpy"} <= changed, (here, lower)
    assert _probe("portable", False) == _probe("portable", True)


def _export(extractor: str, limit: int, mode: str, lower: bool, folder: Path) -> str:
    """The digest of ``mnist-bench export`` of ``extractor`` (own cache, as on a new machine)."""
    out = folder / f"{extractor}-{mode}-{'lower' if lower else 'here'}.npz"
    done = subprocess.run(
        [
            sys.executable, "-m", "mnist_bench", "export", "--extractor", extractor,
            "--limit", str(limit), "--out", str(out), "--numerics", mode,
            "--cache-dir", str(folder / out.stem),
        ],
        env=_clean_environment(lower), capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(out) as npz:
        return hashlib.sha256(npz["features"].tobytes()).hexdigest()


def _same_when_pinned(extractor: str, limit: int, folder: Path) -> None:
    """Other features on the lower machine without the pins, the same with them."""
    here = _export(extractor, limit, "native", False, folder)
    assert here != _export(extractor, limit, "native", True, folder)
    pinned = _export(extractor, limit, "portable", False, folder)
    assert pinned == _export(extractor, limit, "portable", True, folder)


@pytest.mark.ci  # about 35 s each; .ci/same-numbers.sh checks the same on 6,000 images
@needs_level
def test_lenet_features_are_the_same_on_a_lower_machine_when_pinned(tmp_path: Path) -> None:
    """oneDNN's ISA changes TensorFlow's training (a 1,200-image LeNet); the pins hold it."""
    _same_when_pinned("lenet", 1200, tmp_path)


@pytest.mark.ci
@needs_level
def test_umap_features_are_the_same_on_a_lower_machine_when_pinned(tmp_path: Path) -> None:
    """UMAP of 5,000 images (pynndescent's neighbour graph, above its exact-search size)."""
    _same_when_pinned("umap", 5000, tmp_path)


def test_openblas_kernels_the_environment_chose_are_named_in_the_fingerprint(monkeypatch) -> None:
    monkeypatch.setattr(numerics, "level_problem", lambda *_: None)
    numerics.pin(numerics.PORTABLE, {"OPENBLAS_CORETYPE": "haswell"}, modules={})
    assert numerics.fingerprint() == f"portable:{numerics.LEVEL}"
    assert numerics.portable()
    numerics.pin(numerics.PORTABLE, {"OPENBLAS_CORETYPE": "SkylakeX"}, modules={})
    assert numerics.fingerprint() == f"portable:{numerics.LEVEL}:openblas=SkylakeX"
    # pinned as far as the suite may, but not the same numbers as a portable machine's
    record = numerics.record()
    assert not numerics.portable() and record["pinned"] is False
    assert "SkylakeX" in record["unpinned_because"]


class TensorFlowLike(Raw):
    """The pixels, said to come from TensorFlow (whose kernels the pins cannot fully hold)."""

    requires: ClassVar[tuple[str, ...]] = ("numpy", "tensorflow")


def test_features_from_tensorflow_are_not_pinned(tmp_path: Path, monkeypatch) -> None:
    """TensorFlow's kernels also depend on the CPU's caches: its stages are marked unpinned."""
    from mnist_bench import features
    from mnist_bench.core.cache import Cache
    from mnist_bench.data.datasets import load
    from mnist_bench.grid.extraction import extract

    monkeypatch.setitem(features.EXTRACTORS._extra, "tflike", None)  # removed afterwards
    features.EXTRACTORS.register("tflike", f"{__name__}:TensorFlowLike")
    ds, cache = load("digits"), Cache(tmp_path)
    assert extract(ds, [("raw", {})], cache).unpinned is None
    reason = extract(ds, [("tflike", {}), ("pca", {"n_components": 5})], cache).unpinned
    assert reason == numerics.UNPINNED_LIBRARIES["tensorflow"] and "caches" in reason

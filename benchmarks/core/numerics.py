"""Numerics: the same numbers on any x86-64 machine, by pinning each library's kernels.

Every numeric library the suite runs picks its kernels by the CPU it finds when it loads, and
kernels of different instruction sets add in different orders or round differently:

- **numba** (UMAP and pynndescent) compiles for the host CPU; with ``fastmath`` a distance over
  784 pixels sums in 16 lanes with AVX-512 and in 8 with AVX2, so the neighbour graph's weights,
  and then the whole embedding, differ in their last bits;
- **numpy** dispatches its loops at run time (``exp``, ``log``, ``log1p`` in float64 differ
  between its AVX-512 and AVX2 loops: the GMM, NMI);
- **OpenBLAS** (numpy's and scipy's, and FAISS' own older copy) chooses a kernel set per CPU
  (``SkylakeX``, ``Zen``, ``Haswell``...);
- **oneDNN** inside TensorFlow JIT-compiles its kernels for the best ISA it finds (with
  TensorFlow's oneDNN rewrites off it still serves Eigen's matrix products, and Eigen's own
  kernels trained LeNet 2.3 times slower here, so the rewrites stay on);
- **FAISS** dispatches its distance loops at run time (``AVX512``, ``AVX2``; older wheels load
  one of several builds instead).

In mode ``portable`` (the default) :func:`pin` sets, before any of them is imported, the
environment variables that hold each to one level, x86-64-v3 (AVX2, FMA: every x86-64 server CPU
since 2013), so an AVX-512 machine computes what one without it does. In mode ``native`` each
library chooses for itself (the fastest kernels; the same numbers only on the same kind of CPU).
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are never changed when the environment sets them:
some machines set them because older OpenBLAS builds compute wrong results or crash without.

What :func:`pin` did, and what the libraries then chose, is recorded in ``environment.json``
(:func:`record`), and :func:`fingerprint` names it for the cache keys: features computed with
other kernels are other cache entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mnist_bench.core.errors import UserError
from mnist_bench.core.system import cpu_model

PORTABLE = "portable"
NATIVE = "native"
MODES = (PORTABLE, NATIVE)
#: Where the mode comes from when no ``--numerics`` flag gives it.
MODE_ENV = "MNIST_BENCH_NUMERICS"
#: The instruction-set level every library is held to in portable mode.
LEVEL = "x86-64-v3"
#: /proc/cpuinfo flags that make up :data:`LEVEL` (``abm`` is how Linux names LZCNT).
LEVEL_FLAGS = frozenset({"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "movbe"})
#: The OpenBLAS kernel set of :data:`LEVEL` (AVX2 and FMA).
OPENBLAS_KERNELS = "Haswell"
#: Variables the environment may set that the suite never changes.
KEPT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Variables that change which kernels a library runs (the pins' and their neighbours').
KERNEL_VARIABLES = (
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "NPY_DISABLE_CPU_FEATURES",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "ONEDNN_MAX_CPU_ISA",
    "TF_ENABLE_ONEDNN_OPTS",
    "FAISS_SIMD_LEVEL",
    "FAISS_OPT_LEVEL",
)
#: Distributions whose kernels depend on more of the CPU than the pins hold, and why: a stage
#: that uses one is not pinned (:func:`library_problem`; its rows say so, and compare judges
#: them as draws of the same random process).
UNPINNED_LIBRARIES = {
    "tensorflow": (
        "TensorFlow's kernels also size their blocks by the CPU's caches, which no variable "
        "pins: its training differs between CPU models even at one instruction set"
    ),
}
#: Modules whose kernels are chosen when they load: a pin set after them has no effect.
PINNED_MODULES = ("numpy", "numba", "tensorflow", "faiss", "scipy")


@dataclass(frozen=True)
class Pin:
    """One environment variable the portable mode sets, and for which library."""

    variable: str
    value: str
    library: str
    why: str


def portable_pins(numpy_version: str | None) -> tuple[Pin, ...]:
    """The variables of portable mode (numpy names its levels ``X86_V3`` from 2.4 on)."""
    numpy_level = "X86_V3"
    if numpy_version is not None and _older(numpy_version, (2, 4)):
        numpy_level = "SSE SSE2 SSE3 SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2"
    return (
        Pin("NUMBA_CPU_NAME", LEVEL, "numba", "UMAP and pynndescent compiled for x86-64-v3"),
        Pin("NUMBA_CPU_FEATURES", "", "numba", "the level's own features, not the host's"),
        Pin("NPY_ENABLE_CPU_FEATURES", numpy_level, "numpy", "numpy's loops up to AVX2"),
        Pin("OPENBLAS_CORETYPE", OPENBLAS_KERNELS, "openblas", "every OpenBLAS's AVX2 kernels"),
        Pin("ONEDNN_MAX_CPU_ISA", "AVX2", "tensorflow", "oneDNN's kernels up to AVX2"),
        Pin("FAISS_SIMD_LEVEL", "AVX2", "faiss", "FAISS' AVX2 loops (its dynamic dispatch)"),
        Pin("FAISS_OPT_LEVEL", "avx2", "faiss", "FAISS' AVX2 build (builds without dispatch)"),
    )


def _older(version: str, than: tuple[int, int]) -> bool:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) < than


@dataclass
class State:
    """What :func:`pin` did in this process."""

    mode: str = NATIVE
    #: variable -> value the suite set
    set: dict[str, str] = field(default_factory=dict)
    #: variable -> value the environment had, which the suite replaced
    replaced: dict[str, str] = field(default_factory=dict)
    #: variable -> value the environment had, which the suite kept (OPENBLAS_*)
    kept: dict[str, str] = field(default_factory=dict)
    #: modules already imported when the pins were set (their pins have no effect)
    loaded_before: list[str] = field(default_factory=list)
    #: why portable mode could not pin, when it could not
    unpinned: str | None = None
    applied: bool = False


_STATE = State()


def choose_mode(flag: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The mode: the ``--numerics`` flag, else ``$MNIST_BENCH_NUMERICS``, else portable."""
    value = flag if flag is not None else environ.get(MODE_ENV) or PORTABLE
    if value not in MODES:
        source = "--numerics" if flag is not None else MODE_ENV
        raise UserError(f"{source} must be one of {', '.join(MODES)}, got {value!r}")
    return value


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def level_problem(machine: str, flags: frozenset[str]) -> str | None:
    """Why this CPU cannot run at :data:`LEVEL`, or None when it can."""
    if machine.lower() not in ("x86_64", "amd64"):
        return f"the pins are for x86-64 CPUs; this is {machine}"
    missing = sorted(LEVEL_FLAGS - flags)
    if missing:
        return f"this CPU lacks {', '.join(missing)} of {LEVEL}"
    return None


def pin(
    mode: str,
    environ: MutableMapping[str, str] = os.environ,
    modules: Mapping[str, Any] = sys.modules,
) -> State:
    """Set the variables of ``mode`` in ``environ`` (before the libraries load) and remember it.

    Portable mode on a CPU below :data:`LEVEL` (or not x86-64) pins nothing and says why in
    :func:`record`; so does native mode, which leaves the libraries to choose.
    """
    state = State(mode=mode, applied=True)
    state.loaded_before = [name for name in PINNED_MODULES if name in modules]
    state.kept = {v: environ[v] for v in KEPT if environ.get(v)}
    if mode == PORTABLE:
        state.unpinned = level_problem(platform.machine(), cpu_flags())
        if state.unpinned is None:
            for p in portable_pins(_version("numpy")):
                old = environ.get(p.variable)
                if p.variable in state.kept:
                    continue
                if old is not None and old != p.value:
                    state.replaced[p.variable] = old
                environ[p.variable] = p.value
                state.set[p.variable] = p.value
            if "NPY_DISABLE_CPU_FEATURES" in environ:  # numpy refuses both at once
                state.replaced["NPY_DISABLE_CPU_FEATURES"] = environ.pop("NPY_DISABLE_CPU_FEATURES")
    global _STATE
    _STATE = state
    return state


def library_problem(requires: Iterable[str]) -> str | None:
    """Why a stage that uses the distributions ``requires`` is not pinned, or None."""
    for dist in requires:
        if dist in UNPINNED_LIBRARIES:
            return UNPINNED_LIBRARIES[dist]
    return None


@contextlib.contextmanager
def pinned(mode: str) -> Iterator[State]:
    """:func:`pin` ``mode`` for the duration of the block, then put ``os.environ`` back as it was
    (the processes the run starts inherit the pins; a caller in the same process keeps its own
    environment)."""
    before = dict(os.environ)
    try:
        yield pin(mode)
    finally:
        for variable in set(os.environ) - set(before):
            del os.environ[variable]
        os.environ.update(before)


def in_effect() -> bool:
    """Whether every portable pin was set in this process before its library loaded."""
    return (
        _STATE.mode == PORTABLE
        and _STATE.applied
        and _STATE.unpinned is None
        and not _STATE.loaded_before
    )


def other_openblas() -> str | None:
    """The OpenBLAS kernel set the environment holds every OpenBLAS to, where it is not the
    level's (``OPENBLAS_CORETYPE``, never changed by the suite), else None."""
    kernels = _STATE.kept.get("OPENBLAS_CORETYPE")
    return kernels if kernels and kernels.lower() != OPENBLAS_KERNELS.lower() else None


def portable() -> bool:
    """Whether this process computes as every portable machine does: the pins in effect, and
    OpenBLAS on the level's kernels (the rows' ``pinned``)."""
    return in_effect() and other_openblas() is None


def fingerprint() -> str:
    """What the cache keys name of the kernels: ``portable:x86-64-v3`` where every pin holds
    (the same on any machine; with ``:openblas=NAME`` where the environment holds OpenBLAS to
    other kernels than Haswell), else ``native:`` and a digest of the CPU's model and flags and of
    the variables that choose kernels (:data:`KERNEL_VARIABLES`) as this process has them."""
    if in_effect():
        other = other_openblas()
        return f"{PORTABLE}:{LEVEL}" + (f":openblas={other}" if other else "")
    flags = " ".join(sorted(cpu_flags()))
    chosen = sorted((v, os.environ[v]) for v in KERNEL_VARIABLES if v in os.environ)
    digest = hashlib.sha256(f"{cpu_model()}|{flags}|{chosen}".encode()).hexdigest()[:12]
    return f"{NATIVE}:{digest}"


def record() -> dict[str, Any]:
    """What environment.json says of the numerics: the mode, the pins, what each library chose."""
    state = _STATE
    return {
        "mode": state.mode,
        "level": LEVEL if state.mode == PORTABLE else None,
        "pinned": portable(),
        "fingerprint": fingerprint(),
        "set": dict(state.set),
        "replaced": dict(state.replaced),
        "kept_from_environment": dict(state.kept),
        "loaded_before_pins": list(state.loaded_before),
        "unpinned_because": _unpinned_reason(state),
        "cpu_flags": sorted(cpu_flags()),
        "cpu_caches": cache_sizes(),
        "chosen": chosen_kernels(),
    }


def _unpinned_reason(state: State) -> str | None:
    if state.mode == NATIVE:
        return "mode native: every library chose its kernels for this CPU"
    if not state.applied:
        return "the pins were not set (the suite was not started from its command line)"
    if state.unpinned:
        return state.unpinned
    if state.loaded_before:
        return f"{', '.join(state.loaded_before)} loaded before the pins were set"
    if other_openblas():
        return (
            f"the environment holds OpenBLAS to its {other_openblas()} kernels "
            "(OPENBLAS_CORETYPE, which the suite never changes)"
        )
    return None


def cache_sizes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, str]:
    """The first core's caches (``{"L1d": "32K", "L2": "1024K", ...}``): libraries size their
    blocks by them (Eigen's matrix products inside TensorFlow by L1d), so they are recorded."""
    sizes = {}
    for index in sorted(root.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[f"L{level}{suffix}"] = size
    return sizes


def chosen_kernels() -> dict[str, Any]:
    """What each loaded library chose: OpenBLAS' kernel sets, numpy's dispatch, numba's
    target, FAISS' build, TensorFlow's oneDNN settings (libraries not loaded are left out)."""
    chosen: dict[str, Any] = {}
    if "numpy" in sys.modules:
        umath = sys.modules.get("numpy._core._multiarray_umath") or sys.modules.get(
            "numpy.core._multiarray_umath"  # numpy < 2
        )
        found = getattr(umath, "__cpu_features__", {})
        dispatch = getattr(umath, "__cpu_dispatch__", [])
        chosen["numpy"] = sorted(t for t in (dispatch or []) if found.get(t))
        from threadpoolctl import threadpool_info

        chosen["openblas"] = {
            Path(info["filepath"]).name: info.get("architecture")
            for info in threadpool_info()
            if info.get("internal_api") == "openblas"
        }
    if "numba" in sys.modules:
        config = sys.modules["numba"].config
        chosen["numba"] = {
            "cpu_name": config.CPU_NAME or "host",
            "cpu_features": "host" if config.CPU_FEATURES is None else config.CPU_FEATURES,
        }
    if "faiss" in sys.modules:
        chosen["faiss"] = _faiss_level(sys.modules["faiss"])
    if "tensorflow" in sys.modules:
        chosen["tensorflow"] = {
            v: os.environ.get(v, "default") for v in ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")
        }
    return chosen


def _faiss_level(faiss: Any) -> str:
    """FAISS' SIMD level (its dynamic dispatch), or which of its builds is loaded."""
    config = getattr(faiss, "SIMDConfig", None)
    if config is not None:
        return str(config.get_level_name())
    loaded = [m for m in sys.modules if m.startswith("faiss.swigfaiss")]
    return sorted(loaded)[-1].rsplit(".", 1)[-1] if loaded else "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def lower_machine(flags: frozenset[str] | None = None) -> dict[str, str]:
    """Variables that make this machine's libraries choose the kernels of a CPU one level below
    it: without AVX-512 on a CPU that has it, else without AVX2 (x86-64-v2).

    For the tests and the full-size check (``.ci/same-numbers.sh``) that show what the pins are
    for: without them these variables change the numbers, with them they must not. The
    OpenBLAS variables are left as the environment sets them.
    """
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags:
        return {
            "NUMBA_CPU_NAME": "haswell",
            "NUMBA_CPU_FEATURES": "",
            "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "FAISS_SIMD_LEVEL": "AVX2",
        }
    return {
        "NUMBA_CPU_NAME": "x86-64-v2",
        "NUMBA_CPU_FEATURES": "",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "FAISS_SIMD_LEVEL": "NONE",
    }

"""The suite's shared words, defined once: metric names, the row key, a cell's label, file names.

Every module that names a score, keys a result row, labels a cell or names an output file imports
it from here (so do the container smoke test and the tests).

Words used everywhere (config, CLI, columns, code): an **extractor** turns images into
**features**; a **backend** clusters features (the backends live in the package ``clustering``);
**threads** is the thread count of every library call; a **cell** is one (dataset, split,
extractor, backend); a **row** is one cell at one (k, seed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Label-based scores, higher is better, in report order.
METRICS: tuple[str, ...] = ("purity", "macro_purity", "acc", "nmi", "ari")
#: The scores also given over the points a backend put in a cluster, noise left out (equal to
#: the scores over all points when there is no noise).
CLUSTERED_METRICS: tuple[str, ...] = ("acc_clustered", "nmi_clustered", "ari_clustered")
#: How each score is headed in a table.
METRIC_HEADERS: dict[str, str] = {
    "purity": "purity",
    "macro_purity": "macro purity",
    "acc": "acc (Hungarian)",
    "nmi": "NMI",
    "ari": "ARI",
}
#: Shorter headers, for tables with many columns (compare).
METRIC_SHORT_HEADERS: dict[str, str] = {**METRIC_HEADERS, "acc": "acc"}
#: Which images a row clustered: all of them (train + test), or one part.
SPLITS: tuple[str, ...] = ("all", "train", "test")
#: Scores that pick k without labels, computed by the runner on the rows of the k sweep, each
#: with the direction in which it is better: the silhouette, Calinski-Harabasz and Davies-Bouldin
#: (on a seeded sample of the points) and, for a mixture model, BIC.
K_SCORES: tuple[str, ...] = ("silhouette", "calinski_harabasz", "davies_bouldin", "bic")
K_SCORE_DIRECTIONS: dict[str, str] = {
    "silhouette": "max",
    "calinski_harabasz": "max",
    "davies_bouldin": "min",
    "bic": "min",
}
K_SCORE_HEADERS: dict[str, str] = {
    "silhouette": "silhouette",
    "calinski_harabasz": "Calinski-Harabasz",
    "davies_bouldin": "Davies-Bouldin",
    "bic": "BIC",
}
#: Values of the ``init`` column: the backend's own start (its k-means++, FAISS' random
#: sample, ...), or k-means++ centres drawn once and shared by every backend (``[shared_starts]``
#: in the config), whose rows name the backend ``{backend}@shared``.
OWN, SHARED = "own", "shared"
INITS: tuple[str, ...] = (OWN, SHARED)
SHARED_SUFFIX = "@shared"
#: The columns that identify a row of results.csv (one row per key).
ROW_KEY: tuple[str, ...] = ("dataset", "split", "extractor", "backend", "k", "seed")
#: The columns that identify a cell (a row key without k and seed).
CELL_KEY: tuple[str, ...] = ROW_KEY[:4]
#: results.csv columns, in order (the contract's first, then the facts the report uses).
COLUMNS: tuple[str, ...] = (
    "dataset",
    "split",
    "n_samples",
    "extractor",
    "feature_dim",
    "backend",
    "k",
    "seed",
    "wcss",
    *METRICS,
    "n_iter",
    "extract_s",
    "fit_s",
    "predict_s",
    "own_s",
    "eval_k",
    "in_sweep",
    "supervised",
    "deterministic",
    # the features' own digest (SHA-256 of the cached array, 16 hex digits): two runs with the
    # same digest clustered the same numbers
    "features_sha256",
    # whether the run's numerics were pinned (portable mode in effect) and the features seeded
    "pinned",
    "extractor_steps",
    "objective",
    "objective_value",
    "extractor_fit_s",
    "extractor_test_acc",
    "threads",
    "extractor_params",
    "backend_params",
    "peak_rss_mb",
    # fit_s / n_iter
    "s_per_iter",
    "init",
    *K_SCORES,
    # whether the backend chose its own number of clusters (then k = clusters); the clusters a
    # fit made (not counting noise) and the share of points it left as noise
    "chose_k",
    "clusters",
    "noise",
    *CLUSTERED_METRICS,
)

#: The columns that hold a row's numbers (not its times): two runs of the same computation
#: agree on every one of them bit for bit (``mnist-bench compare --exact``).
NUMBER_COLUMNS: tuple[str, ...] = (
    "features_sha256",
    "wcss",
    *METRICS,
    "n_iter",
    "objective_value",
    *K_SCORES,
    "clusters",
    "noise",
    *CLUSTERED_METRICS,
)

#: Each backend's objective (the ``objective`` column): what its own restarts would pick the best
#: start by, and in which direction. ``objective_value`` holds it for every row.
OBJECTIVES: dict[str, str] = {"wcss": "min", "log_likelihood": "max"}

#: The scale study's results.csv (``mnist-bench scale``), columns in order: one row per (N,
#: backend, extractor), :data:`SCALE_KEY`; a ``BACKEND@shared`` row starts from the shared
#: k-means++ centres. ``status`` is one of :data:`SCALE_STATUSES`; ``generate_s`` is the time that
#: made (or loaded) the N images, ``start_s`` the shared start's; ``feature_mb`` the features' size.
SCALE_COLUMNS: tuple[str, ...] = (
    "n", "backend", "extractor", "status", "total_s", "extract_s", "fit_s", "predict_s",
    "peak_rss_mb", "feature_mb", "purity", "n_iter", "threads", "generate_s", "s_per_iter",
    "wcss", "start_s",
)  # fmt: skip
SCALE_KEY: tuple[str, ...] = ("n", "backend", "extractor")
#: How a scale measurement ended: finished; killed at the timeout or by the kernel (out of
#: memory); not run, because the backend did not finish a smaller N; failed (``failed (ERROR)``).
SCALE_STATUSES: tuple[str, ...] = ("ok", "timeout", "oom-killed", "skipped", "failed")
#: A scale folder's settings (the study's config, thread count and numerics): it marks the folder.
SCALE_SETTINGS = "scale.json"
SCALE_PLOT = "scale.png"
#: The machine's streaming bandwidth, measured once per scale folder (the floor of an iteration).
BANDWIDTH = "bandwidth.json"

# Output files of a run folder.
RESULTS = "results.csv"
REPORT = "REPORT.md"
ENVIRONMENT = "environment.json"
#: The run's one record of time: every span it timed (:mod:`mnist_bench.analyses.time.clock`);
#: the two files below are derived from it.
TIMES = "times.json"
#: The extractions and each cell's fit and predict, as pytest-benchmark's statistics.
BENCHMARK = "benchmark.json"
#: Where the run's time went, per stage: the libraries' seconds and the suite's own.
TIMESHARE = "timeshare.json"
PARTIAL = ".partial.jsonl"
LABELS_DIR = "labels"
MONTAGES_DIR = "montages"
HEATMAPS_DIR = "heatmaps"
MAPS_DIR = "maps"
DENDROGRAMS_DIR = "dendrograms"

#: The lock file of a run folder, held while a run or a report writes in it.
LOCK = ".lock"
#: Every file and folder of a run (or scale) folder with a fixed name; its plots are named by
#: split (``elbow_all.png``, ...).
RUN_NAMES: tuple[str, ...] = (
    RESULTS, REPORT, ENVIRONMENT, TIMES, BENCHMARK, TIMESHARE, PARTIAL, LABELS_DIR, MONTAGES_DIR,
    HEATMAPS_DIR, MAPS_DIR, DENDROGRAMS_DIR, SCALE_SETTINGS, BANDWIDTH, SCALE_PLOT, LOCK,
)  # fmt: skip

#: A folder holding one of these is a run (or scale) folder.
RUN_MARKS: tuple[str, ...] = (RESULTS, ENVIRONMENT, PARTIAL, SCALE_SETTINGS)


def is_run_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a run (or scale) folder: it holds one of :data:`RUN_MARKS`."""
    return any(os.path.lexists(Path(folder) / mark) for mark in RUN_MARKS)


def run_folder_owning(path: str | os.PathLike[str]) -> Path | None:
    """The run folder of which ``path`` (resolved) is one of the suite's own files (one of
    :data:`RUN_NAMES`, a plot, anything in its subfolders), or None: what a command's ``--out``
    must not overwrite."""
    try:
        target = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    folder = target.parent
    if is_run_folder(folder) and (target.name in RUN_NAMES or target.suffix == ".png"):
        return folder
    if folder.name in RUN_NAMES and is_run_folder(folder.parent):
        return folder.parent
    return None


SUPERVISED_MARK = " (supervised)"

#: What a name that becomes part of a file name (a split, an extractor, a backend) may be:
#: letters, digits, ``_ . + - @``, not starting with a dot, a dash or an at sign, at most 64
#: characters.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,63}")
#: The most images a run clusters: its label files keep image positions as int32.
MAX_IMAGES = 2**31 - 1
#: The largest seed: every library takes it (numpy, scikit-learn, FAISS and TensorFlow take a
#: signed 32-bit seed).
MAX_SEED = 2**31 - 1


def is_name(value: object) -> bool:
    """Whether ``value`` may become part of a file name (see :data:`NAME`)."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None


#: :data:`NAME` in words, for messages.
NAME_RULE = "letters, digits and _ . + - @ only, not starting with . - or @, at most 64 characters"


def _name(value: str) -> str:
    if not is_name(value):
        raise ValueError(f"{value!r} cannot be part of a file name (allowed: {NAME.pattern})")
    return value


def inside(out_dir: str | os.PathLike[str], relative: str) -> Path:
    """``out_dir / relative``, refused unless it resolves to a place inside ``out_dir``.

    Every file a run or a report writes under its folder is named through here, so neither a
    crafted name nor a symbolic link in a run folder from elsewhere can send a write outside it
    (the rule of :mod:`mnist_bench.core.atomic`, which checks the write itself again).
    """
    from mnist_bench.core.atomic import contained

    return contained(out_dir, Path(out_dir) / relative, "output folder")


def cell_label(extractor: str, backend: str, supervised: bool = False) -> str:
    """``"hog × sklearn"``, with ``" (supervised)"`` for an extractor trained on labels."""
    return f"{extractor} × {backend}" + (SUPERVISED_MARK if supervised else "")


def row_cell_label(row: Mapping[str, Any]) -> str:
    """:func:`cell_label` of a result row (a dict or a pandas row); a chain shows its steps."""
    steps = row.get("extractor_steps")
    extractor = str(row["extractor"])
    if isinstance(steps, str) and steps:
        extractor = f"{extractor} ({steps})"
    return cell_label(extractor, str(row["backend"]), bool(row["supervised"]))


def shared_backend(backend: str) -> str:
    """The backend column of a shared-start row: ``"sklearn"`` -> ``"sklearn@shared"``."""
    return f"{_name(backend)}{SHARED_SUFFIX}"


def row_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The :data:`ROW_KEY` values of a row."""
    return tuple(row[c] for c in ROW_KEY)


def stem(split: str, extractor: str, backend: str, k: int, seed: int) -> str:
    """``{split}-{extractor}-{backend}-k{k}-seed{seed}``: names a row's labels and pictures.

    Refuses (ValueError) a name that could leave the folder or hide a file (see :data:`NAME`).
    """
    return f"{_name(split)}-{_name(extractor)}-{_name(backend)}-k{int(k)}-seed{int(seed)}"


def labels_file(split: str, extractor: str, backend: str, k: int, seed: int) -> str:
    """Where a row's predicted labels are kept, relative to the run folder."""
    return f"{LABELS_DIR}/{stem(split, extractor, backend, k, seed)}.npz"


def montage_file(split: str, extractor: str, backend: str, k: int, seed: int) -> str:
    return f"{MONTAGES_DIR}/{stem(split, extractor, backend, k, seed)}.png"


def heatmap_file(split: str, extractor: str, backend: str, k: int, seed: int) -> str:
    return f"{HEATMAPS_DIR}/{stem(split, extractor, backend, k, seed)}.png"


def map_file(split: str, extractor: str, backend: str, k: int, seed: int) -> str:
    return f"{MAPS_DIR}/{stem(split, extractor, backend, k, seed)}.png"


def map_layout_file(split: str) -> str:
    """The 2-D layout of a split's sample of images, shared by the maps of its cells."""
    return f"{MAPS_DIR}/layout-{_name(split)}.npz"


def elbow_file(split: str) -> str:
    return f"elbow_{_name(split)}.png"


def pareto_file(split: str) -> str:
    """Every cell's score against its total time, for one split."""
    return f"pareto_{_name(split)}.png"


def kselect_file(split: str) -> str:
    """The curves of the k-selection scores by k, for one split."""
    return f"kselect_{_name(split)}.png"


def linkage_file(split: str, extractor: str) -> str:
    """The Ward linkage of a seeded sample of an extractor's features (kept by the runner)."""
    return f"{DENDROGRAMS_DIR}/{_name(split)}-{_name(extractor)}.npz"


def dendrogram_file(split: str, extractor: str) -> str:
    """The dendrogram drawn from :func:`linkage_file`."""
    return f"{DENDROGRAMS_DIR}/{_name(split)}-{_name(extractor)}.png"

"""The grid as a list of jobs: what a config runs, one :class:`Job` per result row, in order.

For each extractor (in the config's order), each split it is clustered on (the config's, plus
``test`` for a supervised extractor: :func:`splits_for`), each backend that runs on it, then
each backend from shared starts (:mod:`mnist_bench.analyses.shared_starts`): the k sweep on the
first seed (every seed with ``sweep_all_seeds``), then ``eval_k`` on the other seeds (what the
backend is can change that: :func:`seeds_and_ks`). A backend from shared starts runs at
``eval_k`` on every seed, outside the sweep.

The runner (:mod:`mnist_bench.grid.runner`) walks the jobs grouped by extractor (its features
are made once), split and cell (a cell's sweep is scored and journaled together).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mnist_bench import clustering
from mnist_bench.analyses.shared_starts import starts as shared_starts
from mnist_bench.core.vocabulary import OWN, SHARED, shared_backend
from mnist_bench.grid.config import GridConfig, chooses_k

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """One result row to compute: a backend at one (k, seed) on one split of one extractor."""

    split: str
    extractor: str
    #: the results' backend column: the plug-in's name, or ``{plug-in}@shared``
    backend: str
    plugin: str
    #: where the backend starts: its own initialisation (``own``) or the shared k-means++
    #: centres (``shared``); the row's ``init`` column
    start: str
    #: None for a backend that chooses its own number of clusters (its row's k is the number
    #: it found)
    k: int | None
    seed: int
    in_sweep: bool
    eval_k: bool

    @property
    def cell(self) -> tuple[str, str, str]:
        """(split, extractor, backend): the jobs of one cell differ only in k and seed."""
        return (self.split, self.extractor, self.backend)


def seeds_and_ks(cfg: GridConfig, backend: str | None = None) -> list[tuple[int | None, int, bool]]:
    """The (k, seed, in_sweep) of a backend's own starts in one cell: the k sweep, then eval_k
    on the seeds outside the sweep.

    What the backend is changes that (:class:`mnist_bench.clustering.base.BaseBackend`): one
    that chooses its own number of clusters runs once per seed, k None, outside the sweep; one
    whose result the seed does not change runs on the first seed only; one that does not sweep
    k (each k a new, costly fit) runs at eval_k only.
    """
    klass = clustering.BACKENDS.load(backend) if backend is not None else None
    seeds = cfg.seeds[:1] if getattr(klass, "deterministic", False) else cfg.seeds
    if backend is not None and chooses_k(backend):
        return [(None, seed, False) for seed in seeds]
    if not getattr(klass, "sweeps_k", True):
        return [(cfg.eval_k, seed, False) for seed in seeds]
    sweep_seeds = seeds if cfg.sweep_all_seeds else seeds[:1]
    triples: list[tuple[int | None, int, bool]]
    triples = [(k, seed, True) for seed in sweep_seeds for k in cfg.k]
    assert cfg.eval_k is not None
    triples += [(cfg.eval_k, seed, False) for seed in seeds if seed not in sweep_seeds]
    return triples


def splits_for(cfg: GridConfig, supervised: bool) -> list[str]:
    """The splits clustered for an extractor: the config's, plus ``test`` for supervised ones."""
    splits = list(cfg.splits)
    if supervised and cfg.holdout_split and "test" not in splits:
        splits.append("test")
    return splits


def running(cfg: GridConfig, extractor: str) -> list[str]:
    """The backends the grid runs on ``extractor`` (``backend_extractors`` may leave some out)."""
    return [b for b in cfg.backends if cfg.runs(b, extractor)]


def plan(cfg: GridConfig, supervised: Mapping[str, bool]) -> list[Job]:
    """Every job of the grid, in the order they run; ``supervised``: each extractor's kind."""
    assert cfg.eval_k is not None
    own = {b: seeds_and_ks(cfg, b) for b in cfg.backends}
    shared: list[tuple[int | None, int, bool]] = [(cfg.eval_k, seed, False) for seed in cfg.seeds]
    jobs = []
    for extractor in cfg.extractors:
        backends = running(cfg, extractor)
        cells = [(b, b, OWN, own[b]) for b in backends]
        cells += [
            (shared_backend(b), b, SHARED, shared)
            for b in shared_starts.backends_for(cfg.shared_starts, extractor, backends)
        ]
        for split in splits_for(cfg, supervised[extractor]):
            jobs += [
                Job(
                    split,
                    extractor,
                    column,
                    plugin,
                    start,
                    k,
                    seed,
                    in_sweep,
                    k in (None, cfg.eval_k),
                )
                for column, plugin, start, triples in cells
                for k, seed, in_sweep in triples
            ]
    return jobs


def grouped(jobs: list[T], key: Callable[[T], Any]) -> Iterator[tuple[Any, list[T]]]:
    """Consecutive runs of ``jobs`` with the same ``key`` (the plan keeps each group together)."""
    for value, group in itertools.groupby(jobs, key):
        yield value, list(group)

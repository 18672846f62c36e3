"""What is checked before a grid runs, writing nothing: the dataset loads, every plug-in's
parameters fit the real sizes of the data (each extractor step's ``check_data``, a backend's
given starting centres, a backend's own ``check_data``), each cheap extractor works on a few
images, every k fits every split, the grid has cells and no row twice, and the memory the grid
needs is there (:mod:`mnist_bench.grid.budget`). ``mnist-bench run`` calls :func:`prepare`
before it makes the output folder, so a refused run leaves nothing behind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from mnist_bench import features
from mnist_bench.clustering.base import as_centres
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.core.vocabulary import OWN
from mnist_bench.data import datasets
from mnist_bench.features.base import rows_shape
from mnist_bench.grid import budget
from mnist_bench.grid.config import GridConfig
from mnist_bench.grid.extraction import step_key
from mnist_bench.grid.plan import Job, plan, splits_for

#: Images a cheap extractor is tried on before the grid starts; more for one that makes more
#: features than that (a fit may need as many images as features: PCA's components), up to
#: :data:`PREFLIGHT_MAX` (the checks of :func:`check_data` use the real number).
PREFLIGHT_IMAGES = 256
PREFLIGHT_MAX = 4096


def check_sizes(cfg: GridConfig, ds: datasets.Dataset, any_supervised: bool) -> None:
    """Every k must leave at least one image per cluster in every split that will be clustered."""
    splits = set(cfg.splits) | ({"test"} if any_supervised and cfg.holdout_split else set())
    for split in sorted(splits):
        n = int(ds.mask(split).sum())
        if max(cfg.k) > n:
            raise UserError(
                f"k = {max(cfg.k)} is larger than the {n} images of split {split!r} "
                f"of dataset {cfg.dataset!r}"
            )


def preflight(cfg: GridConfig, ds: datasets.Dataset, cache: Cache | None = None) -> dict[str, bool]:
    """Try each cheap extractor on a few images, so a misfit fails before any long work.

    (A HOG block larger than the images, say.) Extractors that train a model, learn from labels
    or embed their whole input are only checked for their parameters (by the config), and so
    is one whose features are in ``cache`` already. Returns whether each extractor is
    supervised.
    """
    supervised = {}
    shape = (int(ds.images.shape[1]), int(ds.images.shape[2]))
    for name in cfg.extractors:
        first, params = cfg.steps(name)[0]
        extractor = features.make(first, **params)
        supervised[name] = bool(extractor.supervised)
        if extractor.supervised or extractor.transductive or extractor.uses_cache:
            continue
        if cache is not None and cache.has_array(step_key(ds, cfg.steps(name)[:1])):
            continue  # made with these parameters before
        wide = min(int(extractor.feature_dim(shape)), PREFLIGHT_MAX)
        sample = ds.images[: min(len(ds), max(PREFLIGHT_IMAGES, wide))]
        try:
            extractor.fit(sample).transform(sample[:2])
        except ValueError as exc:
            raise UserError(f"extractor {name!r}: {exc}") from None
    return supervised


def check_data(cfg: GridConfig, ds: datasets.Dataset) -> dict[str, int]:
    """Each step of each extractor against the images and features it will get (its
    ``check_data``, with the real number of images); returns each extractor's feature width."""
    widths = {}
    for name in cfg.extractors:
        shape = (int(ds.images.shape[1]), int(ds.images.shape[2]))
        for step, params in cfg.steps(name):
            extractor = features.make(step, **params)
            check = getattr(extractor, "check_data", None)
            try:
                if check is not None:
                    check(len(ds), shape)
                width = int(extractor.feature_dim(shape))
            except ValueError as exc:
                where = f" (step {step!r})" if step != name else ""
                raise UserError(f"extractor {name!r}{where}: {exc}") from None
            shape = rows_shape(width)
        widths[name] = width
    return widths


def check_jobs(cfg: GridConfig, ds: datasets.Dataset, jobs: list[Job], widths: dict) -> None:
    """The grid has cells and no row twice; each backend's parameters fit the features and k
    of every cell it runs (given starting centres ``[k, d]``, the backend's ``check_data``)."""
    if not jobs:
        raise UserError(
            "the grid has no cell: backend_extractors leaves no backend to run on the "
            f"extractors {', '.join(cfg.extractors)}"
        )
    twice = [key for key, count in Counter(_row_key(job) for job in jobs).items() if count > 1]
    if twice:
        split, extractor, backend, k, seed = twice[0]
        raise UserError(
            f"the grid would compute the row split {split}, {extractor} x {backend}, k = {k}, "
            f"seed {seed} twice (a name listed twice?)"
        )
    seen = set()
    for job in jobs:
        what = (job.split, job.extractor, job.plugin, job.k)
        if job.start != OWN or what in seen:
            continue
        seen.add(what)
        model = cfg.backend(job.plugin, job.k, job.seed)
        n, d = int(ds.mask(job.split).sum()), widths[job.extractor]
        try:
            _check_backend(model, n, d, job.k)
        except ValueError as exc:
            raise UserError(f"backend {job.plugin!r} on {job.extractor}: {exc}") from None


def _row_key(job: Job) -> tuple[Any, ...]:
    return (job.split, job.extractor, job.backend, job.k, job.seed)


def _check_backend(model: Any, n: int, d: int, k: int | None) -> None:
    """A ValueError where ``model`` cannot fit ``n`` rows of ``d`` features into ``k`` clusters."""
    init = getattr(model, "init", None)
    if init is not None and not isinstance(init, str):
        if k is None:
            raise ValueError("init gives starting centres, but the backend chooses its own k")
        try:
            values = np.asarray(init)
        except (TypeError, ValueError) as exc:  # ragged lists
            raise ValueError(f"init must be an array of centres: {exc}") from None
        if values.dtype.kind not in "iuf":  # booleans, text, objects are no centres
            raise ValueError(
                f"init must be centres of numbers, shape (n_clusters, n_features) = {(k, d)}, "
                f"got {values.dtype} values"
            )
        as_centres(values, k, d)
        if getattr(model, "n_init", 1) != 1:
            raise ValueError("n_init must be 1 when init is an array of centres")
    check = getattr(model, "check_data", None)
    if check is not None:
        check(n, d)


def load_dataset(cfg: GridConfig, cache: Cache) -> datasets.Dataset:
    """The dataset ``cfg`` clusters (generated ones are made into the cache folder)."""
    return datasets.load(cfg.dataset, cfg.limit, cache_dir=cache.root)


def prepare(
    cfg: GridConfig, cache: Cache, ds: datasets.Dataset | None = None
) -> tuple[datasets.Dataset, dict[str, bool]]:
    """Check what can be checked before the run, writing nothing: the plug-ins' parameters
    against the data's sizes, the extractors on a few images, every k against the split sizes,
    the cells of the plan, the memory the grid needs against what is left.

    Returns the dataset (loaded here unless given) and whether each extractor is supervised.
    """
    ds = ds if ds is not None else load_dataset(cfg, cache)
    widths = check_data(cfg, ds)
    supervised = preflight(cfg, ds, cache)
    check_sizes(cfg, ds, any(supervised.values()))
    check_jobs(cfg, ds, plan(cfg, supervised), widths)
    splits = {name: splits_for(cfg, sup) for name, sup in supervised.items()}
    budget.check(cfg, ds, cache, splits)
    return ds, supervised

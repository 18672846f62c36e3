"""What is checked before a grid runs, writing nothing: the dataset loads, each cheap extractor
works on a few images, every k fits every split, and the memory the grid needs is there
(:mod:`mnist_bench.grid.budget`). ``mnist-bench run`` calls :func:`prepare` before it makes the
output folder, so a refused run leaves nothing behind.
"""

from __future__ import annotations

from mnist_bench import features
from mnist_bench.core.cache import Cache
from mnist_bench.core.errors import UserError
from mnist_bench.data import datasets
from mnist_bench.grid import budget
from mnist_bench.grid.config import GridConfig
from mnist_bench.grid.extraction import step_key
from mnist_bench.grid.plan import splits_for

#: Images a cheap extractor is tried on before the grid starts.
PREFLIGHT_IMAGES = 256


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
    sample = ds.images[: min(len(ds), PREFLIGHT_IMAGES)]
    for name in cfg.extractors:
        first, params = cfg.steps(name)[0]
        extractor = features.make(first, **params)
        supervised[name] = bool(extractor.supervised)
        if extractor.supervised or extractor.transductive or extractor.uses_cache:
            continue
        if cache is not None and cache.has_array(step_key(ds, cfg.steps(name)[:1])):
            continue  # made with these parameters before
        try:
            extractor.fit(sample).transform(sample[:2])
        except ValueError as exc:
            raise UserError(f"extractor {name!r}: {exc}") from None
    return supervised


def load_dataset(cfg: GridConfig, cache: Cache) -> datasets.Dataset:
    """The dataset ``cfg`` clusters (generated ones are made into the cache folder)."""
    return datasets.load(cfg.dataset, cfg.limit, cache_dir=cache.root)


def prepare(
    cfg: GridConfig, cache: Cache, ds: datasets.Dataset | None = None
) -> tuple[datasets.Dataset, dict[str, bool]]:
    """Check what can be checked before the run, writing nothing: the extractors on a few
    images, every k against the split sizes, the memory the grid needs against what is left.

    Returns the dataset (loaded here unless given) and whether each extractor is supervised.
    """
    ds = ds if ds is not None else load_dataset(cfg, cache)
    supervised = preflight(cfg, ds, cache)
    check_sizes(cfg, ds, any(supervised.values()))
    splits = {name: splits_for(cfg, sup) for name, sup in supervised.items()}
    budget.check(cfg, ds, cache, splits)
    return ds, supervised

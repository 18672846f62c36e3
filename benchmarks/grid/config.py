"""The grid spec: a TOML file (``benchmarks/configs/*.toml``) plus CLI overrides, validated.

A config names one dataset, the extractors and backends (each a table of parameters), the k
range, the k at which the grid is evaluated on every seed, the seeds and the thread count.
``features`` is accepted as an older name of the ``extractors`` table (and ``--features`` of
``--extractors``).
Everything is checked before any work starts; a mistake raises :class:`UserError` naming it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mnist_bench import clustering, features
from mnist_bench.core import vocabulary as words
from mnist_bench.core.errors import UserError, unknown
from mnist_bench.core.system import usable_cores
from mnist_bench.data import datasets
from mnist_bench.grid.shared_starts import check_shared_starts

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.toml"
DEFAULT_EVAL_K = 10


@dataclass
class GridConfig:
    """A validated grid. ``extractors`` and ``backends`` map a plug-in name to its parameters.

    An entry of ``extractors`` with a ``steps`` list is a chain: ``{"steps": ["autoencoder",
    "umap"], "umap": {...}}`` (each step's parameters under its name). ``backend_extractors``
    limits a backend to some extractors (``{"gmm": ["umap"]}``); others run on every extractor.
    ``shared_starts`` (``{"extractors": [...], "backends": [...], "iterations": 25}``) adds rows
    where those backends start from the same k-means++ centres (:mod:`.shared_starts`).
    """

    name: str = "custom"
    dataset: str = "mnist"
    limit: int | None = None
    splits: list[str] = field(default_factory=lambda: ["all"])
    holdout_split: bool = True
    extractors: dict[str, dict[str, Any]] = field(default_factory=lambda: {"raw": {}})
    backends: dict[str, dict[str, Any]] = field(default_factory=lambda: {"sklearn": {}})
    backend_extractors: dict[str, list[str]] = field(default_factory=dict)
    k: list[int] = field(default_factory=lambda: [DEFAULT_EVAL_K])
    eval_k: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    sweep_all_seeds: bool = False
    threads: int = 0
    shared_starts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def threads_in_use(self) -> int:
        """The thread count every backend and extractor gets (``threads = 0``: all usable cores)."""
        return self.threads or usable_cores()

    def validate(self) -> None:
        datasets.DATASETS.get(self.dataset)  # an unknown name fails here
        for split in self.splits:
            if split not in datasets.SPLITS:
                raise unknown("split", split, datasets.SPLITS)
        for name in self.extractors:
            for i, (step, params) in enumerate(self.steps(name)):
                extractor = features.make(step, **params)
                _check_params(f"extractor {step!r}", extractor)
                if i > 0 and extractor.supervised:
                    raise UserError(
                        f"extractor {name!r}: step {step!r} learns from labels; only the first "
                        "step of a chain may be supervised"
                    )
        for name, params in self.backends.items():
            reserved = {"n_clusters", "seed", "threads"} & set(params)
            if reserved:
                raise UserError(
                    f"backend {name!r}: {sorted(reserved)} are set by the grid, not per backend"
                )
            _check_params(f"backend {name!r}", clustering.make(name, **params))
        if not isinstance(self.backend_extractors, dict):
            raise UserError(
                "backend_extractors must be a table: backend = [extractor names], e.g. "
                'gmm = ["umap"]'
            )
        for backend, names in self.backend_extractors.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise UserError(f"backend_extractors.{backend} must be a list of extractor names")
        for kind, names in (("extractor", self.extractors), ("backend", self.backends)):
            for name in names:
                if not words.is_name(name):
                    raise UserError(
                        f"{kind} name {name!r} is not allowed: letters, digits and _ . + - only "
                        "(it becomes part of file names)"
                    )
        check_shared_starts(self.shared_starts)
        if not self.extractors:
            raise UserError("no extractor selected")
        if not self.backends:
            raise UserError("no backend selected")
        if not self.k or not self.seeds:
            raise UserError("the k list and the seed list must not be empty")
        for k in self.k:
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise UserError(f"k must be an integer >= 1, got {k!r}")
        for seed in self.seeds:
            if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
                raise UserError(f"seeds must be integers >= 0, got {seed!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UserError(f"limit must be a positive integer, got {self.limit!r}")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise UserError(f"threads must be an integer >= 0 (0: all cores), got {self.threads!r}")
        self.k = sorted(set(self.k))
        if self.eval_k is None:
            self.eval_k = DEFAULT_EVAL_K if DEFAULT_EVAL_K in self.k else self.k[-1]
        if self.eval_k not in self.k:
            raise UserError(
                f"eval_k {self.eval_k} is outside the k range {format_ks(self.k)}; "
                "choose one of the k values"
            )

    def steps(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """The chain of extractor ``name``: ``[(plug-in, parameters), ...]`` (one step if plain)."""
        return chain_steps(name, self.extractors[name])

    def runs(self, backend: str, extractor: str) -> bool:
        """Whether ``backend`` runs on ``extractor`` (``backend_extractors`` may limit it)."""
        allowed = self.backend_extractors.get(backend)
        return allowed is None or extractor in allowed

    def hash(self) -> str:
        """A hash of everything that determines the result rows (the name aside)."""
        data = {key: value for key, value in asdict(self).items() if key != "name"}
        data["threads"] = self.threads_in_use
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_KEYS = {f for f in GridConfig.__dataclass_fields__}


def _check_params(what: str, plugin: Any) -> None:
    """Check a plug-in's parameters against its declared constraints, before any work.

    Plug-ins are scikit-learn estimators; ``_validate_params`` checks ``_parameter_constraints``
    and raises a ValueError naming the parameter, the value and what is allowed.
    """
    try:
        plugin._validate_params()
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


def chain_steps(name: str, table: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The steps of extractor ``name`` whose config table is ``table``.

    A plain extractor is one step, ``[(name, table)]``; a chain's table has ``steps`` (a list of
    extractor names) and each step's parameters in a table under the step's name.
    """
    if "steps" not in table:
        return [(name, table)]
    steps = table["steps"]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise UserError(f"extractors.{name}.steps must be a non-empty list of extractor names")
    if len(set(steps)) != len(steps):
        raise UserError(f"extractors.{name}.steps names a step twice: {steps}")
    if name in features.EXTRACTORS:
        raise UserError(f"chain {name!r} has the name of an extractor; name it otherwise")
    extra = sorted(set(table) - {"steps", *steps})
    if extra:
        raise UserError(f"extractors.{name} has {extra}, which are not among its steps {steps}")
    for step in steps:
        if not isinstance(table.get(step, {}), dict):
            raise UserError(f"extractors.{name}.{step} must be a table of parameters")
    return [(step, dict(table.get(step, {}))) for step in steps]


def parse_ks(text: str | int | list[Any]) -> list[int]:
    """``"1-14"``, ``"2,5,10"``, ``10`` or ``[1, 2]`` -> a list of ints."""
    if isinstance(text, int) and not isinstance(text, bool):
        return [text]
    if isinstance(text, list):
        return [int(v) if isinstance(v, int) else _bad_k(v) for v in text]
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if a > b:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            _bad_k(part)
    return out


def _bad_k(value: Any) -> int:
    raise UserError(
        f"bad k value {value!r}: use a number, a range like 1-14, or a list like 2,5,10"
    )


def parse_ints(text: str, what: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``, with a clear error for anything else."""
    try:
        return [int(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise UserError(f"{what} must be integers separated by commas, got {text!r}") from None


def format_ks(ks: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"``."""
    runs: list[list[int]] = []
    for k in ks:
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a config file, with errors that say which file and where."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"malformed TOML in {path}: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text") from None


def from_mapping(data: dict[str, Any], name: str = "custom") -> GridConfig:
    """Build a :class:`GridConfig` from a parsed TOML mapping, naming any unknown key."""
    data = dict(data)
    if "features" in data:  # the older name of the extractors table
        if "extractors" in data:
            raise UserError(
                "config has both 'extractors' and 'features' (its older name): keep one"
            )
        data["extractors"] = data.pop("features")
    for key in data:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, sorted(_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"unknown config key {key!r}{hint}; known: {', '.join(sorted(_KEYS))}")
    for table in ("extractors", "backends"):
        if table in data:
            value = data[table]
            if isinstance(value, list):
                data[table] = {n: {} for n in value}
            elif not isinstance(value, dict) or not all(
                isinstance(v, dict) for v in value.values()
            ):
                raise UserError(
                    f"config key {table!r} must be a list of names or a table of tables"
                )
    if "k" in data:
        data["k"] = parse_ks(data["k"])
    if "limit" in data and data["limit"] in (0, None):
        data["limit"] = None
    data.setdefault("name", name)
    try:
        cfg = GridConfig(**data)
    except TypeError as exc:  # wrong value types that validate() did not catch
        raise UserError(f"bad config: {exc}") from None
    # names in backend_extractors: the file's extractors (a chain among them) or plug-ins
    for backend, names in cfg.backend_extractors.items():
        for extractor in names:
            if extractor not in cfg.extractors and extractor not in features.EXTRACTORS:
                raise unknown(
                    f"extractor in backend_extractors.{backend}", extractor, cfg.extractors
                )
    # shared starts compare what the file's grid runs
    for key, grid in (("extractors", cfg.extractors), ("backends", cfg.backends)):
        for value in cfg.shared_starts.get(key, []):
            if value not in grid:
                raise unknown(f"{key[:-1]} in shared_starts.{key}", value, grid)
    return cfg


def load(
    path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> GridConfig:
    """The config in ``path`` (default: ``default.toml``) with CLI ``overrides`` applied.

    ``overrides["extractors"]``/``["backends"]`` are lists of names: a named plug-in keeps the
    parameters the file gives it, and gets its defaults otherwise.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data = read_toml(path)
    base = from_mapping(data, name=path.stem)
    merged = {key: value for key, value in base.to_dict().items()}
    if "eval_k" not in data:
        merged["eval_k"] = None
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("extractors", "backends"):
            merged[key] = {n: dict(merged[key].get(n, {})) for n in value}
        else:
            merged[key] = value
    if (
        overrides
        and overrides.get("k") is not None
        and overrides.get("eval_k") is None
        and "eval_k" in data
    ):
        merged["eval_k"] = data["eval_k"] if data["eval_k"] in overrides["k"] else None
    return GridConfig(**merged)

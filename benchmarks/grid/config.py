"""The grid spec: a TOML file (``benchmarks/configs/*.toml``) plus CLI overrides, validated.

A config names one dataset, the extractors and backends (each a table of parameters), the k
range, the k at which the grid is evaluated on every seed, the seeds and the thread count.
``features`` is accepted as an older name of the ``extractors`` table (and ``--features`` of
``--extractors``).

One validation pass, before any work: :class:`GridConfig` is a pydantic model (strict types:
``threads = true`` or ``holdout_split = "no"`` are refused, not coerced; ranges checked), then
every plug-in's parameters are checked against the plug-in's own declared constraints, with the
values the grid will set (the largest k and seed, the thread count). A mistake raises
:class:`UserError`: one line naming the config key or CLI flag, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mnist_bench import clustering, features
from mnist_bench.analyses.shared_starts.starts import check_shared_starts
from mnist_bench.clustering.base import objective_problem
from mnist_bench.core import vocabulary as words
from mnist_bench.core.errors import UserError, unknown
from mnist_bench.core.system import usable_cores
from mnist_bench.data import datasets

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.toml"
DEFAULT_EVAL_K = 10
#: The largest k the grid accepts (a range is refused before it is built).
MAX_K = 10_000
#: The largest thread count accepted.
MAX_THREADS = 1024


def _plugin_name(value: str) -> str:
    if not words.is_name(value):
        raise ValueError(
            f"{value!r} is not allowed as a name: {words.NAME_RULE} (it becomes part of file names)"
        )
    return value


def _split(value: str) -> str:
    if value not in words.SPLITS:
        raise ValueError(f"unknown split {value!r}; known: {', '.join(words.SPLITS)}")
    return value


Name = Annotated[str, AfterValidator(_plugin_name)]
K = Annotated[int, Field(ge=1, le=MAX_K)]
Seed = Annotated[int, Field(ge=0, le=words.MAX_SEED)]


class GridConfig(BaseModel):
    """A validated grid. ``extractors`` and ``backends`` map a plug-in name to its parameters.

    An entry of ``extractors`` with a ``steps`` list is a chain: ``{"steps": ["autoencoder",
    "umap"], "umap": {...}}`` (each step's parameters under its name). ``backend_extractors``
    limits a backend to some extractors (``{"gmm": ["umap"]}``); others run on every extractor.
    ``shared_starts`` (``{"extractors": [...], "backends": [...], "iterations": 25}``) adds rows
    where those backends start from the same k-means++ centres
    (:mod:`mnist_bench.analyses.shared_starts`).
    """

    model_config = ConfigDict(strict=True, extra="forbid", validate_default=True)

    name: str = "custom"
    dataset: Name = "mnist"
    limit: Annotated[int, Field(ge=1, le=words.MAX_IMAGES)] | None = None
    splits: Annotated[list[Annotated[str, AfterValidator(_split)]], Field(min_length=1)] = Field(
        default_factory=lambda: ["all"]
    )
    holdout_split: bool = True
    extractors: Annotated[dict[Name, dict[str, Any]], Field(min_length=1)] = Field(
        default_factory=lambda: {"raw": {}}
    )
    backends: Annotated[dict[Name, dict[str, Any]], Field(min_length=1)] = Field(
        default_factory=lambda: {"sklearn": {}}
    )
    backend_extractors: dict[Name, list[Name]] = Field(default_factory=dict)
    k: Annotated[list[K], Field(min_length=1)] = Field(default_factory=lambda: [DEFAULT_EVAL_K])
    eval_k: K | None = None
    seeds: Annotated[list[Seed], Field(min_length=1)] = Field(default_factory=lambda: [0])
    sweep_all_seeds: bool = False
    threads: Annotated[int, Field(ge=0, le=MAX_THREADS)] = 0
    shared_starts: dict[str, Any] = Field(default_factory=dict)

    @field_validator("k", mode="before")
    @classmethod
    def _parse_k(cls, value: Any) -> Any:
        """``k = "1-14"`` or ``k = 10`` in a file: the list they mean."""
        if isinstance(value, str):
            return parse_ks(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        return value

    @field_validator("seeds", "splits")
    @classmethod
    def _each_once(cls, value: list[Any]) -> list[Any]:
        """A seed or a split listed twice would make the same rows twice."""
        twice = [item for i, item in enumerate(value) if item in value[:i]]
        if twice:
            raise ValueError(f"{twice[0]!r} is listed twice")
        return value

    @field_validator("limit", mode="before")
    @classmethod
    def _no_limit(cls, value: Any) -> Any:
        """``limit = 0`` means no limit."""
        return None if type(value) is int and value == 0 else value

    @model_validator(mode="after")
    def _consistent(self) -> GridConfig:
        check_shared_starts(self.shared_starts)
        self.k = sorted(set(self.k))
        if self.eval_k is None:
            self.eval_k = DEFAULT_EVAL_K if DEFAULT_EVAL_K in self.k else self.k[-1]
        if self.eval_k not in self.k:
            raise UserError(
                f"eval_k {self.eval_k} is outside the k range {format_ks(self.k)}; "
                "choose one of the k values"
            )
        return self

    def check_plugins(self) -> None:
        """Every name is known and every plug-in accepts its parameters (nothing is run)."""
        datasets.DATASETS.get(self.dataset)  # an unknown name fails here
        for name in self.extractors:
            for i, (step, params) in enumerate(self.steps(name)):
                extractor = features.make(step, **params)
                _check_params(f"extractor {step!r}", extractor)
                if i > 0 and extractor.supervised:
                    raise UserError(
                        f"extractor {name!r}: step {step!r} learns from labels; only the first "
                        "step of a chain may be supervised"
                    )
        grid_set = {"n_clusters", "seed", "threads"}
        for name, params in self.backends.items():
            reserved = grid_set & set(params)
            if reserved:
                raise UserError(
                    f"backend {name!r}: {sorted(reserved)} are set by the grid, not per backend"
                )
            # the values the grid will pass, so a bound of the plug-in's is checked now too
            _check_params(f"backend {name!r}", self.backend(name, max(self.k), max(self.seeds)))

    def check_restrictions(self) -> None:
        """The names in ``backend_extractors`` are backends, and the file's extractors or plug-ins.

        (Checked on a config file as written; ``--extractors`` may then leave some out.)
        """
        for backend, names in self.backend_extractors.items():
            clustering.BACKENDS.get(backend)
            for extractor in names:
                if extractor not in self.extractors and extractor not in features.EXTRACTORS:
                    raise unknown(
                        f"extractor in backend_extractors.{backend}", extractor, self.extractors
                    )
        # shared starts compare what the file's grid runs
        for key, grid in (("extractors", self.extractors), ("backends", self.backends)):
            for value in self.shared_starts.get(key, []):
                if value not in grid:
                    raise unknown(f"{key[:-1]} in shared_starts.{key}", value, grid)

    @property
    def threads_in_use(self) -> int:
        """The thread count every backend and extractor gets (``threads = 0``: all usable cores)."""
        return self.threads or usable_cores()

    def backend(
        self, name: str, k: int | None, seed: int, params: dict[str, Any] | None = None
    ) -> Any:
        """Backend ``name`` at ``k`` and ``seed`` with its table's parameters (or ``params``)
        and the grid's threads: :func:`make_backend`."""
        table = self.backends[name] if params is None else params
        k = None if chooses_k(name) else k
        return make_backend(name, table, k, seed, self.threads_in_use)

    def steps(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """The chain of extractor ``name``: ``[(plug-in, parameters), ...]`` (one step if plain).

        A step whose plug-in takes ``threads`` gets the grid's (:attr:`threads_in_use`), unless
        its own table sets a count (``threads = 0`` there means the grid's too).
        """
        return [
            (step, with_threads(step, params, self.threads_in_use))
            for step, params in chain_steps(name, self.extractors[name])
        ]

    def runs(self, backend: str, extractor: str) -> bool:
        """Whether ``backend`` runs on ``extractor`` (``backend_extractors`` may limit it)."""
        allowed = self.backend_extractors.get(backend)
        return allowed is None or extractor in allowed

    def hash(self) -> str:
        """A hash of everything that determines the result rows (the name aside)."""
        data = {key: value for key, value in self.to_dict().items() if key != "name"}
        data["threads"] = self.threads_in_use
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


_KEYS = set(GridConfig.model_fields)


def _check_params(what: str, plugin: Any) -> None:
    """Check a plug-in's parameters against its declared constraints, before any work.

    Plug-ins are scikit-learn estimators; ``_validate_params`` checks ``_parameter_constraints``
    and raises a ValueError naming the parameter, the value and what is allowed.
    """
    validate = getattr(plugin, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


def _validated(data: dict[str, Any], where: str, flags: frozenset[str] = frozenset()) -> GridConfig:
    """``GridConfig(**data)``, a validation error said in one line naming the key or flag.

    ``flags``: the keys that came from the command line (named as ``--flag``).
    """
    try:
        cfg = GridConfig(**data)
    except ValidationError as exc:
        raise UserError(_one_line(exc, where, flags)) from None
    cfg.check_plugins()
    return cfg


def _one_line(exc: ValidationError, where: str, flags: frozenset[str]) -> str:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    key = loc[0] if loc else ""
    if key in flags:
        place = "--" + key.replace("_", "-")
    else:
        place = f"config key {key!r}" + (f" in {where}" if where else "")
    inner = ".".join(loc[1:])
    if inner:
        place += f" (at {inner})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{place}: a value is required"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict | list) or len(repr(value)) < 80 else ""
    got = f", got {shown}" if shown and error["type"] != "value_error" else ""
    return f"{place}: {message}{got}"


def make_backend(name: str, params: dict[str, Any], k: int | None, seed: int, threads: int) -> Any:
    """The one place a backend is built: plug-in ``name`` with ``params``, ``k`` clusters,
    ``seed`` and ``threads``, for the checks, the memory budget and every fit alike (a backend
    that chooses its own number of clusters gets ``k`` None: :func:`chooses_k`).

    Refuses (:class:`UserError`) a backend whose objective the suite cannot read.
    """
    grid = {"seed": seed, "threads": threads} | ({} if k is None else {"n_clusters": k})
    backend = clustering.make(name, **grid, **params)
    problem = objective_problem(backend)
    if problem:
        raise UserError(f"backend {name!r} {problem}")
    return backend


def chooses_k(backend: str) -> bool:
    """Whether plug-in ``backend`` finds its own number of clusters (it takes no ``k``)."""
    return bool(getattr(clustering.BACKENDS.load(backend), "chooses_k", False))


def with_threads(step: str, params: dict[str, Any], threads: int) -> dict[str, Any]:
    """``params`` of extractor ``step``, with ``threads`` where the plug-in takes a thread count
    and ``params`` sets none (or 0)."""
    if params.get("threads") or "threads" not in features.make(step).get_params():
        return params
    return {**params, "threads": threads}


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


def parse_ks(text: str) -> list[int]:
    """``"1-14"``, ``"2,5,10"`` or ``"10"`` -> a list of ints (at most :data:`MAX_K` each)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if a > b:
                    raise ValueError
                _check_k(b)  # before the range is built
                out.extend(range(a, b + 1))
            else:
                out.append(_check_k(int(part)))
        except ValueError:
            _bad_k(part)
    return out


def _check_k(k: int) -> int:
    if k > MAX_K:
        raise UserError(f"k = {k} is too large: k may be at most {MAX_K:,}")
    return k


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
    except RecursionError:  # tomllib parses nested arrays and tables by recursion
        raise UserError(
            f"config file {path} is nested too deeply (beyond Python's recursion limit, "
            f"{sys.getrecursionlimit()} levels)"
        ) from None


def from_mapping(data: dict[str, Any], name: str = "custom", where: str = "") -> GridConfig:
    """Build a :class:`GridConfig` from a parsed TOML mapping (read from ``where``)."""
    cfg = _validated(_normalised(data, name, where), where)
    cfg.check_restrictions()
    return cfg


def _normalised(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """The mapping with its older spellings replaced and unknown keys named."""
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
        value = data.get(table)
        if isinstance(value, list) and all(isinstance(n, str) for n in value):
            data[table] = {n: {} for n in value}  # a list of names: default parameters
    data.setdefault("name", name)
    return data


def load(
    path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> GridConfig:
    """The config in ``path`` (default: ``default.toml``) with CLI ``overrides`` applied.

    ``overrides["extractors"]``/``["backends"]`` are lists of names: a named plug-in keeps the
    parameters the file gives it, and gets its defaults otherwise. The file is validated on its
    own first (its errors name the key and the file), then with the overrides (theirs name the
    flag).
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data = _normalised(read_toml(path), path.stem, str(path))
    try:
        GridConfig(**data).check_restrictions()
    except ValidationError as exc:
        raise UserError(_one_line(exc, str(path), frozenset())) from None
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    merged = dict(data)
    for key, value in given.items():
        if key in ("extractors", "backends"):
            table = data.get(key) or GridConfig.model_fields[key].get_default(
                call_default_factory=True
            )
            merged[key] = {n: dict(table.get(n, {})) for n in value}
        else:
            merged[key] = value
    if "k" in given and "eval_k" not in given and "eval_k" in data:
        # the file's eval_k is kept while the new k range holds it
        ks = parse_ks(given["k"]) if isinstance(given["k"], str) else given["k"]
        if data["eval_k"] not in ks:
            del merged["eval_k"]
    return _validated(merged, str(path), frozenset(given))

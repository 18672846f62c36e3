"""The scale study's settings: ``benchmarks/configs/scale.toml`` plus the ``scale`` flags,
validated as the grid's config is, and their copy in the output folder (``scale.json``).

:class:`ScaleConfig` is a strict pydantic model (unknown keys refused, ranges checked); the flags
override the file's keys; a mistake is one :class:`UserError` line naming the key (and file) or
the flag. ``scale.json`` holds the settings a study measured with, its numerics mode and thread
count: it marks a folder as a scale study's (so ``mnist-bench report`` renders it as one), and a
rerun into the folder must measure as its rows were measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mnist_bench import clustering, features
from mnist_bench.core import numerics
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_text
from mnist_bench.core.errors import UserError, unknown
from mnist_bench.core.system import usable_cores
from mnist_bench.grid.config import CONFIG_DIR, MAX_THREADS, Name, _one_line, read_toml

DEFAULT_SCALE_CONFIG = CONFIG_DIR / "scale.toml"
#: The longest a measurement may be given (a week, in seconds).
MAX_TIMEOUT_S = 7 * 24 * 3600
#: What must agree between a rerun and the rows already in its folder.
MEASURING = ("threads", "iterations", "numerics")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _ascending(values: list[int]) -> list[int]:
    return sorted(set(values))


class ScaleConfig(BaseModel):
    """The study: every N of ``sizes`` (ascending) times every backend of ``backends``, with one
    ``extractor``, ``threads`` threads (0: all usable cores), each measurement stopped after
    ``timeout`` seconds; the ``BACKEND@shared`` rows run ``iterations`` Lloyd iterations."""

    model_config = ConfigDict(strict=True, extra="forbid", validate_default=True)

    sizes: Annotated[
        list[Annotated[int, Field(ge=1, le=words.MAX_IMAGES)]],
        Field(min_length=1),
        AfterValidator(_ascending),
    ] = Field(default_factory=lambda: [70_000, 250_000, 1_000_000])
    backends: Annotated[list[Name], Field(min_length=1), AfterValidator(_unique)] = Field(
        default_factory=lambda: ["sklearn", "faiss", "dask"]
    )
    extractor: Name = "raw"
    threads: Annotated[int, Field(ge=0, le=MAX_THREADS)] = 2
    # finite and within what the libraries keep (a timer's seconds, a C int of iterations)
    timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)] = 600.0
    iterations: Annotated[int, Field(ge=1, le=2**31 - 1)] = 25

    @property
    def threads_in_use(self) -> int:
        """The thread count every measurement gets (``threads = 0``: all usable cores)."""
        return self.threads or usable_cores()

    def check_plugins(self) -> None:
        """Every backend and the extractor is an installed plug-in that imports (nothing runs)."""
        for backend in self.backends:
            clustering.BACKENDS.load(backend)
        features.EXTRACTORS.load(self.extractor)

    def measured(self) -> list[str]:
        """The backend column of every measurement at one N: each backend, then each that can
        start from given centres as ``BACKEND@shared``."""
        shared = [
            words.shared_backend(backend)
            for backend in self.backends
            if getattr(clustering.BACKENDS.load(backend), "accepts_init", False)
        ]
        return [*self.backends, *shared]


_KEYS = tuple(ScaleConfig.model_fields)


def _validated(data: dict[str, Any], where: str, flags: frozenset[str]) -> ScaleConfig:
    """``ScaleConfig(**data)``; a mistake in one line naming the key (``flags``: as ``--flag``)."""
    strange = [key for key in data if key not in _KEYS]
    if strange:
        raise UserError(f"{where}: {unknown('config key', strange[0], _KEYS)}")
    try:
        return ScaleConfig(**data)
    except ValidationError as exc:
        raise UserError(_one_line(exc, where, flags)) from None


def load(
    path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> ScaleConfig:
    """The study in ``path`` (default: ``scale.toml``) with the flags' ``overrides`` (None: not
    given) applied; the file is checked on its own first, so its mistakes name the file."""
    path = Path(path) if path is not None else DEFAULT_SCALE_CONFIG
    data = read_toml(path)
    _validated(data, str(path), frozenset())
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    cfg = _validated({**data, **given}, str(path), frozenset(given))
    cfg.check_plugins()
    return cfg


def settings(cfg: ScaleConfig, mode: str) -> dict[str, Any]:
    """What ``scale.json`` records of a study measured with ``cfg`` in numerics ``mode``."""
    return {**cfg.model_dump(), "threads": cfg.threads_in_use, "numerics": mode}


def read_settings(out_dir: Path) -> dict[str, Any] | None:
    """The settings in ``OUT/scale.json``, checked (None where there is no such file)."""
    path = Path(out_dir) / words.SCALE_SETTINGS
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mode = data.pop("numerics")
        cfg = ScaleConfig(**data)
    except ValidationError as exc:
        raise UserError(_one_line(exc, str(path), frozenset())) from None
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise UserError(f"{path} is not a scale study's settings ({exc!r})") from None
    if mode not in numerics.MODES:
        raise UserError(f"{path}: unknown numerics mode {mode!r}")
    return settings(cfg, mode)


def write_settings(out_dir: Path, recorded: dict[str, Any]) -> None:
    """Write ``OUT/scale.json`` (atomically)."""
    write_text(Path(out_dir) / words.SCALE_SETTINGS, json.dumps(recorded, indent=1) + "\n")


def check_rerun(out_dir: Path, recorded: dict[str, Any]) -> None:
    """Refuse to add rows to ``out_dir`` measured otherwise than the rows it holds."""
    before = read_settings(out_dir)
    if before is None:
        return
    for key in MEASURING:
        if before[key] != recorded[key]:
            raise UserError(
                f"{out_dir} holds a scale study measured with {key} = {before[key]}, not "
                f"{recorded[key]}: measure with the same {key} or choose another --out"
            )


def is_scale_folder(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a scale study: its settings, or a results.csv with the scale
    study's columns (a folder from before the settings file)."""
    out_dir = Path(out_dir)
    if (out_dir / words.SCALE_SETTINGS).is_file():
        return True
    try:
        with open(out_dir / words.RESULTS, encoding="utf-8") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return header.strip().split(",") == list(words.SCALE_COLUMNS)

"""The scale study's ``results.csv``: its rows written as they are measured, and read back
against :class:`ScaleRow` (columns: :data:`mnist_bench.core.vocabulary.SCALE_COLUMNS`).

A results.csv may come from anywhere, so it is read as untrusted input, as the grid's is: a file
that is damaged, or another's (a grid's results.csv), is one :class:`UserError` line naming the
file and, where it is one row's fault, the row (its line in the file) and the column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from io import StringIO
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import atomic_open
from mnist_bench.core.errors import UserError
from mnist_bench.grid.results import Amount, Blank, Count, Name, Score

#: Columns of whole numbers, empty where a measurement did not finish.
WHOLE = ("n", "n_iter", "threads")


def _status(value: str) -> str:
    if value not in words.SCALE_STATUSES and not value.startswith("failed ("):
        raise ValueError(f"unknown status; known: {', '.join(words.SCALE_STATUSES)}")
    return value


class ScaleRow(BaseModel):
    """One measurement: N images of one extractor clustered by one backend (k = 10, seed 0)."""

    model_config = ConfigDict(extra="ignore")

    n: Count
    backend: Name
    extractor: Name
    status: Annotated[str, Blank, AfterValidator(_status)]
    total_s: Amount = math.nan
    extract_s: Amount = math.nan
    fit_s: Amount = math.nan
    predict_s: Amount = math.nan
    peak_rss_mb: Amount = math.nan
    feature_mb: Amount = math.nan
    purity: Score = math.nan
    n_iter: Annotated[int | None, Field(ge=0), Blank] = None
    threads: Annotated[int | None, Field(ge=1), Blank] = None
    generate_s: Amount = math.nan
    s_per_iter: Amount = math.nan
    wcss: Amount = math.nan
    start_s: Amount = math.nan


def checked(record: Mapping[str, Any]) -> dict[str, Any]:
    """A measurement's row with every column, checked (a ValidationError where it is wrong)."""
    return ScaleRow.model_validate(record).model_dump()


def as_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as a table in :data:`SCALE_COLUMNS` order; whole numbers stay whole."""
    frame = pd.DataFrame(list(rows), columns=list(words.SCALE_COLUMNS))
    for column in WHOLE:
        frame[column] = frame[column].astype("Int64")
    return frame


def write(rows: Iterable[Mapping[str, Any]], out_dir: Path) -> None:
    """Write ``OUT/results.csv`` atomically (floats as Python writes them: they read back equal)."""
    with atomic_open(Path(out_dir) / words.RESULTS, "w") as fh:
        as_frame(rows).to_csv(fh, index=False)


def read(out_dir: Path) -> list[dict[str, Any]]:
    """The checked rows of ``OUT/results.csv`` (a :class:`UserError` where there is none)."""
    path = Path(out_dir) / words.RESULTS
    if not path.is_file():
        raise UserError(
            f"no {words.RESULTS} in {out_dir}: run `mnist-bench scale --out {out_dir}` first"
        )
    try:
        cells = pd.read_csv(
            StringIO(path.read_text(encoding="utf-8")), dtype=str, keep_default_na=False
        )
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"cannot read {path}: the file is empty") from None
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot read {path}: {str(exc).strip().splitlines()[0]}") from None
    missing = [column for column in words.SCALE_COLUMNS if column not in cells.columns]
    if missing:
        raise UserError(
            f"{path} is not a scale study's results (`mnist-bench scale` writes them): it lacks "
            f"the column(s) {', '.join(missing)}"
        )
    rows = [_row(record, path, line) for line, record in enumerate(cells.to_dict("records"), 2)]
    seen: set[tuple[Any, ...]] = set()
    for line, row in enumerate(rows, 2):
        key = tuple(row[column] for column in words.SCALE_KEY)
        if key in seen:
            named = ", ".join(f"{c}={v}" for c, v in zip(words.SCALE_KEY, key, strict=True))
            raise UserError(f"{path}, row {line}: a second row for {named}")
        seen.add(key)
    return rows


def _row(record: dict[str, str], path: Path, line: int) -> dict[str, Any]:
    """Row ``line`` of the file, checked; its first mistake in one line."""
    try:
        return checked(record)
    except ValidationError as exc:
        raise UserError(f"{path}, row {line}, {_first_mistake(exc, record)}") from None


def _first_mistake(exc: ValidationError, record: dict[str, str]) -> str:
    error = exc.errors(include_url=False)[0]
    column = str(error["loc"][0]) if error["loc"] else "?"
    said = str(error["msg"]).removeprefix("Value error, ")
    return f"column {column!r}: {said}, got {record.get(column)!r}"

"""``results.csv``: writing the grid's rows, and reading them back against one schema.

A results.csv may come from anywhere (CI artifacts, a colleague): it is untrusted input. Every
row is read against :class:`Row` (types, ranges, allowed values; names that become file names
must match :data:`mnist_bench.core.vocabulary.NAME`), and a damaged file is refused in one line
naming the file, the row (its line in the file) and the column. Scores may be missing (NaN):
``compare`` counts a missing score as a difference, the report shows a dash.
"""

from __future__ import annotations

import json
import math
import re
from io import StringIO
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import atomic_open
from mnist_bench.core.errors import UserError

#: The largest count (images, clusters, dimensions, iterations) a row may hold: every integer up
#: to it is exact in float64, as pandas holds an integer column with a missing value, and far
#: below 64 bits, so nothing downstream overflows; a larger one is refused naming its cell.
MAX_COUNT = 2**53

#: The columns a results.csv must have (the README's contract, and what the report needs to know
#: which rows are the evaluation and which the sweep). The others have defaults.
REQUIRED: tuple[str, ...] = (
    *words.COLUMNS[: words.COLUMNS.index("predict_s") + 1],
    "eval_k",
    "in_sweep",
    "supervised",
)


def _blank_is_none(value: Any) -> Any:
    """An empty cell (or pandas' NaN for one) is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _blank_is_nan(value: Any) -> Any:
    """An empty cell of a number column is a missing number (NaN)."""
    value = _blank_is_none(value)
    return math.nan if value is None else value


def _within(low: float, high: float = math.inf) -> AfterValidator:
    """A finite number in ``[low, high]``, or NaN (missing)."""

    def check(value: float) -> float:
        if not math.isnan(value) and not (low <= value <= high and math.isfinite(value)):
            allowed = (
                "a finite number"
                if low == -math.inf
                else f"between {low:g} and {high:g}"
                if high < math.inf
                else f">= {low:g}"
            )
            raise ValueError(f"must be {allowed} (or empty)")
        return value

    return AfterValidator(check)


def _name(value: str) -> str:
    if not words.is_name(value):
        raise ValueError(f"not a valid name ({words.NAME_RULE})")
    return value


def _split(value: str) -> str:
    if value not in words.SPLITS:
        raise ValueError(f"unknown split; known: {', '.join(words.SPLITS)}")
    return value


def _objective(value: str | None) -> str | None:
    if value is not None and value not in words.OBJECTIVES:
        raise ValueError(f"unknown objective; known: {', '.join(words.OBJECTIVES)}")
    return value


def _init(value: str | None) -> str | None:
    if value is not None and value not in words.INITS:
        raise ValueError(f"unknown init; known: {', '.join(words.INITS)}")
    return value


def _digest(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-f]{16,64}", value):
        raise ValueError("not a hexadecimal digest")
    return value


def _json_table(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError("not a JSON table of parameters") from None
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON table of parameters")
    return value


Blank = BeforeValidator(_blank_is_none)
Missing = BeforeValidator(_blank_is_nan)
Name = Annotated[str, Blank, AfterValidator(_name)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT), Blank]
#: A count that may be 0 (clusters found, iterations).
Count0 = Annotated[int, Field(ge=0, le=MAX_COUNT), Blank]
#: A score: in its range, or missing (NaN).
Score = Annotated[float, Missing, _within(-1, 1)]
#: A duration, a size or a sum of squares: >= 0, or missing (NaN).
Amount = Annotated[float, Missing, _within(0)]
Flag = Annotated[bool, Blank]


class Row(BaseModel):
    """One row of results.csv (see :data:`mnist_bench.core.vocabulary.COLUMNS`)."""

    model_config = ConfigDict(extra="ignore")

    dataset: Name
    split: Annotated[str, Blank, AfterValidator(_split)]
    n_samples: Count
    extractor: Name
    feature_dim: Count
    backend: Name
    # (0 only where a backend that chooses its own number of clusters left every point noise)
    k: Count0
    seed: Annotated[int, Field(ge=0, le=words.MAX_SEED), Blank]
    wcss: Amount
    purity: Score
    macro_purity: Score
    acc: Score
    nmi: Score
    ari: Score
    n_iter: Count0
    extract_s: Amount
    fit_s: Amount
    predict_s: Amount
    own_s: Amount = math.nan
    eval_k: Flag
    in_sweep: Flag
    supervised: Flag
    deterministic: Flag = True
    features_sha256: Annotated[str | None, Blank, AfterValidator(_digest)] = None
    pinned: Annotated[bool | None, Blank] = None
    extractor_steps: Annotated[str | None, Blank] = None
    objective: Annotated[str | None, Blank, AfterValidator(_objective)] = None
    objective_value: Annotated[float, Missing, _within(-math.inf)] = math.nan
    extractor_fit_s: Amount = math.nan
    extractor_test_acc: Score = math.nan
    threads: Annotated[int | None, Field(ge=1, le=MAX_COUNT), Blank] = None
    extractor_params: Annotated[str | None, Blank, AfterValidator(_json_table)] = None
    backend_params: Annotated[str | None, Blank, AfterValidator(_json_table)] = None
    peak_rss_mb: Amount = math.nan
    s_per_iter: Amount = math.nan
    init: Annotated[str | None, Blank, AfterValidator(_init)] = None
    silhouette: Score = math.nan
    calinski_harabasz: Amount = math.nan
    davies_bouldin: Amount = math.nan
    bic: Annotated[float, Missing, _within(-math.inf)] = math.nan
    chose_k: Flag = False
    clusters: Annotated[int | None, Field(ge=0, le=MAX_COUNT), Blank] = None
    noise: Annotated[float, Missing, _within(0, 1)] = math.nan
    acc_clustered: Score = math.nan
    nmi_clustered: Score = math.nan
    ari_clustered: Score = math.nan


def write_results(frame: pd.DataFrame, out_dir: Path) -> None:
    """Write ``OUT/results.csv`` atomically (floats at full precision)."""
    with atomic_open(Path(out_dir) / words.RESULTS, "w") as fh:
        frame.to_csv(fh, index=False, float_format="%.17g")


def read_results(out_dir: Path) -> pd.DataFrame:
    """The rows of ``OUT/results.csv``, checked against :class:`Row`.

    A missing, unreadable or damaged file is a :class:`UserError` (one line: file, row, column).
    Columns the schema does not know are kept as pandas reads them.
    """
    path = Path(out_dir) / words.RESULTS
    if not path.is_file():
        raise UserError(
            f"no {words.RESULTS} in {out_dir}: run `mnist-bench run --out {out_dir}` first"
        )
    return parse(path)


def parse(path: Path) -> pd.DataFrame:
    """Read and check the results file at ``path`` (see :func:`read_results`)."""
    try:
        text = path.read_text(encoding="utf-8")
        cells = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
        inferred = pd.read_csv(StringIO(text))
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"cannot read {path}: the file is empty") from None
    except (ValueError, OverflowError, OSError) as exc:
        raise UserError(f"cannot read {path}: {_first_line(exc)}") from None
    missing = [c for c in REQUIRED if c not in cells.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}")
    if cells.empty:
        raise UserError(f"{path} has no rows")
    rows = []
    for i, record in enumerate(cells.to_dict("records")):
        try:
            rows.append(Row.model_validate(record).model_dump())
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            column = error["loc"][0] if error["loc"] else "?"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise UserError(
                f"{path}, row {i + 2}, column {column!r}: {message}, got {record.get(column)!r}"
            ) from None
    frame = pd.DataFrame(rows, columns=list(Row.model_fields))
    for column in inferred.columns:
        if column not in frame:
            frame[column] = inferred[column].to_numpy()
    _check_rows(frame, path)
    return frame


def _check_rows(frame: pd.DataFrame, path: Path) -> None:
    """No more clusters than images, one row per row key, and one k evaluated on every seed."""
    for column in ("k", "clusters"):
        counts = pd.to_numeric(frame[column], errors="coerce")
        beyond = counts > frame.n_samples
        if beyond.any():
            i = int(beyond.to_numpy().nonzero()[0][0])
            raise UserError(
                f"{path}, row {i + 2}, column {column!r}: more clusters than the row's "
                f"{frame.n_samples.iloc[i]} images, got {frame[column].iloc[i]}"
            )
    duplicated = frame.duplicated(list(words.ROW_KEY))
    if duplicated.any():
        i = int(duplicated.to_numpy().nonzero()[0][0])
        key = ", ".join(f"{c}={frame.iloc[i][c]}" for c in words.ROW_KEY)
        raise UserError(f"{path}, row {i + 2}: a second row for {key}")
    # (a backend that chose its own number of clusters is evaluated at the k it found)
    given = frame.eval_k & ~frame.chose_k.fillna(False).astype(bool)
    eval_ks = frame.loc[given, "k"]
    if frame.loc[frame.eval_k].empty:
        raise UserError(f"{path}: no row has eval_k = True (the k evaluated on every seed)")
    if eval_ks.nunique() > 1:
        i = int((given & (frame.k != eval_ks.iloc[0])).to_numpy().nonzero()[0][0])
        raise UserError(
            f"{path}, row {i + 2}, column 'eval_k': a second k is marked as eval_k "
            f"({frame.k.iloc[i]}, besides {eval_ks.iloc[0]})"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

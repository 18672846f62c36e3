"""``results.csv``: writing the grid's rows and reading them back (for the report and compare)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mnist_bench.core.atomic import atomic_open
from mnist_bench.core.errors import UserError
from mnist_bench.core.vocabulary import NAME_COLUMNS, RESULTS, is_name


def write_results(frame: pd.DataFrame, out_dir: Path) -> None:
    """Write ``OUT/results.csv`` atomically (floats at full precision)."""
    with atomic_open(Path(out_dir) / RESULTS, "w") as fh:
        frame.to_csv(fh, index=False, float_format="%.17g")


def read_results(out_dir: Path) -> pd.DataFrame:
    """The rows of ``OUT/results.csv``; a missing or unreadable file is a :class:`UserError`."""
    path = Path(out_dir) / RESULTS
    if not path.is_file():
        raise UserError(f"no {RESULTS} in {out_dir}: run `mnist-bench run --out {out_dir}` first")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    check_names(frame, path)
    return frame


def check_names(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a results file whose split, extractor or backend could not be a file name.

    Those values become parts of the names of the plots and labels written beside it, and a
    results.csv may come from anywhere: ``../../x`` must not reach outside the run folder.
    """
    for column in NAME_COLUMNS:
        if column not in frame:
            continue
        for row, value in enumerate(frame[column]):
            if not is_name(value):
                raise UserError(
                    f"{path}, row {row + 2}, column {column!r}: {value!r} is not a valid name "
                    f"(letters, digits and _ . + - only)"
                )

"""Table cells and tables as every report section and compare print them (markdown, tabulate)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from tabulate import tabulate


def markdown_table(rows: list[list[Any]], headers: list[str]) -> str:
    """A GitHub markdown table of already formatted cells (tabulate, no number parsing)."""
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def mean_std(values: pd.Series, digits: int = 3) -> str:
    """``0.635 ± 0.004`` (sample std over seeds), or the value alone for a single seed."""
    values = values.dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"

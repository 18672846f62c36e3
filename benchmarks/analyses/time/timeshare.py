"""The report's "where the time went" table: the libraries' seconds against the suite's own; and
its "stage timings" from ``benchmark.json``.

Read from the run's ``timeshare.json`` (derived from the run's record of time, see
:mod:`mnist_bench.analyses.time.clock`): every stage measured, from the interpreter's start to
the report, with the seconds spent in the libraries benchmarked (extractors, backends) and in
the suite itself. Without that record (an older run) the rows' ``fit_s``, ``predict_s`` and
``own_s`` give the part that was measured per row; without those either, there is no table.

:func:`refresh` rewrites the section of an existing REPORT.md, for ``mnist-bench run``, which
can time the report only after writing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mnist_bench.analyses.time.clock import OUTSIDE_GRID, TIMESHARE_VERSION
from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import write_text
from mnist_bench.core.own_files import read_checked
from mnist_bench.core.tables import markdown_table

TITLE = "## Where the time went"
HEADERS = ["stage", "library s", "suite s", "suite share", "note"]


Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    library_s: Seconds
    suite_s: Seconds


class _Stage(_Part):
    stage: str
    note: str = ""


class Record(BaseModel):
    """What the report reads of ``timeshare.json`` (see :func:`.clock.timeshare`)."""

    model_config = ConfigDict(extra="allow")
    version: Literal[TIMESHARE_VERSION]  # type: ignore[valid-type]
    stages: list[_Stage]
    wall_s: Seconds | None = None
    marks: dict[str, _Part] = Field(default_factory=dict)


def read_record(out_dir: Path) -> dict[str, Any] | None:
    """``OUT/timeshare.json`` checked, or None when missing, damaged or of another version."""
    return read_checked(Path(out_dir) / words.TIMESHARE, Record) or None


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value else "–"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole > 0 and part > 0 else "–"


def _table(stages: list[dict[str, Any]], total_s: float) -> str:
    rows = [
        [
            s["stage"],
            _seconds(s["library_s"]),
            _seconds(s["suite_s"]),
            _share(s["suite_s"], total_s),
            s.get("note", ""),
        ]
        for s in stages
    ]
    library = sum(s["library_s"] for s in stages)
    suite = sum(s["suite_s"] for s in stages)
    rows.append(["**total**", f"{library:.2f}", f"{suite:.2f}", _share(suite, total_s), ""])
    return markdown_table(rows, HEADERS)


def from_record(record: dict[str, Any]) -> list[str]:
    """The section's lines from a ``timeshare.json`` record."""
    stages = record["stages"]
    total = float(record.get("wall_s") or sum(s["library_s"] + s["suite_s"] for s in stages))
    suite = sum(s["suite_s"] for s in stages)
    whole = (
        f"the whole command took {total:.1f} s, {suite:.1f} s of them ({_share(suite, total)}) "
        "the suite's own work"
        if record.get("wall_s") is not None
        else f"the stages measured took {total:.1f} s, {suite:.1f} s of them "
        f"({_share(suite, total)}) the suite's own work"
    )
    grid = [s for s in stages if s["stage"] not in OUTSIDE_GRID]
    if len(grid) < len(stages):
        grid_suite = sum(s["suite_s"] for s in grid)
        grid_total = grid_suite + sum(s["library_s"] for s in grid)
        whole += (
            f"; the grid alone (from loading the data to writing results.csv) "
            f"{grid_total:.1f} s, {grid_suite / max(grid_total, 1e-9):.1%} of it the suite's"
        )
    return [
        TITLE,
        "",
        "Wall-clock seconds of this run per stage, measured as it ran (`timeshare.json`): "
        "*library* is the work benchmarked (the extractors' fit and transform, the backends' "
        "fit and predict), *suite* everything else (start-up and imports, data, the cache, "
        "WCSS and scores, label files, the journal, results, pictures, this report). "
        f"In all, {whole}.",
        "",
        _table(stages, total),
        "",
    ]


def from_rows(frame: pd.DataFrame) -> list[str]:
    """The section's lines from the rows' own timings, for a run without ``timeshare.json``."""
    if "own_s" not in frame or frame["own_s"].isna().all():
        return []
    stages = []
    for backend, group in frame.groupby("backend", sort=False):
        stages.append(
            {"stage": f"fit: {backend}", "library_s": group["fit_s"].sum(), "suite_s": 0.0}
        )
        stages.append(
            {"stage": f"predict: {backend}", "library_s": group["predict_s"].sum(), "suite_s": 0.0}
        )
    stages.append(
        {
            "stage": "rows: WCSS, scores, label files",
            "library_s": 0.0,
            "suite_s": float(frame["own_s"].sum()),
        }
    )
    total = sum(s["library_s"] + s["suite_s"] for s in stages)
    return [
        TITLE,
        "",
        "This run has no `timeshare.json`: only the rows' own timings are known (`fit_s`, "
        "`predict_s`: the backends; `own_s`: the suite's work for each row). Start-up, data, "
        "extraction, pictures and the report were not recorded.",
        "",
        _table(stages, total),
        "",
    ]


def section(out_dir: Path, frame: pd.DataFrame) -> list[str]:
    """The report's section on where the time went (empty when nothing was measured)."""
    record = read_record(out_dir)
    return from_record(record) if record is not None else from_rows(frame)


def refresh(out_dir: Path, frame: pd.DataFrame) -> None:
    """Rewrite the section in ``OUT/REPORT.md`` from the current record (if it has one)."""
    path = Path(out_dir) / words.REPORT
    try:
        text = path.read_text()
    except OSError:
        return
    start = text.find(TITLE + "\n")
    if start < 0:
        return
    end = text.find("\n## ", start + len(TITLE))
    end = len(text) if end < 0 else end + 1
    new = "\n".join(section(out_dir, frame)) + "\n"
    write_text(path, text[:start] + new + text[end:])


def benchmark_section(bench: dict[str, Any]) -> list[str]:
    """Stage timings from ``benchmark.json`` (pytest-benchmark's format), when present."""
    rows = [
        [
            b["name"],
            b["stats"]["rounds"],
            f"{b['stats']['median']:.3f}",
            f"{b['stats']['min']:.3f}",
            f"{b['stats']['iqr']:.3f}",
        ]
        for b in bench.get("benchmarks", [])
        if not str(b.get("group", "")).startswith("predict")
    ]
    if not rows:
        return []
    return [
        "## Stage timings",
        "",
        "From `benchmark.json` (seconds; pytest-benchmark's statistics of the grid's own "
        "measurements: one round per extraction, one per seed for each fit at eval_k):",
        "",
        markdown_table(rows, ["stage", "rounds", "median", "min", "IQR"]),
        "",
    ]

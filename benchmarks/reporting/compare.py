"""``mnist-bench compare DIR_A DIR_B``: where two runs differ, as markdown, with a CI exit status.

Rows are matched on (dataset, split, extractor, backend, k, seed). Two tables:

- **cells at eval_k**: per (dataset, split, extractor, backend), the mean of each score over the
  seeds both runs have (all of each run's seeds when they share none), the relative change of
  WCSS, and the ratio B / A of the median fit time and of the extraction time;
- **rows**: every matched row, score by score (only the rows with a flag, unless ``all_rows``).

A score (purity, macro_purity, acc, nmi, ari: higher is better) that moved by more than
``tolerance`` is flagged *worse* or *better*; so is WCSS (lower is better) when its relative
change exceeds ``tolerance``. A time ratio outside ``[1 / time_band, time_band]`` is flagged
when the two times differ by more than ``MIN_TIME_S`` (shorter times are all noise); time flags
never change the exit status. Cells or rows present in one run only, different seeds, a
different eval_k or a different number of images are flagged as mismatches.

Exit status (:attr:`Comparison.status`): 1 when a score got worse beyond the tolerance (in a
cell mean or in any row) or the runs do not cover the same cells, seeds and eval_k; else 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_bench.core import vocabulary as words
from mnist_bench.core.errors import UserError
from mnist_bench.grid import environment
from mnist_bench.grid.results import parse
from mnist_bench.reporting.tables import markdown_table

KEY = list(words.ROW_KEY)
CELL = list(words.CELL_KEY)
#: Scores where higher is better, compared with an absolute tolerance.
SCORES = list(words.METRICS)
SCORE_HEADERS = [words.METRIC_SHORT_HEADERS[m] for m in SCORES]
#: Times closer than this (seconds) are never flagged, whatever their ratio.
MIN_TIME_S = 0.05
#: The sign of a score missing (NaN) in either run: a difference, as a score got worse.
MISSING = -2
#: At most this many findings are listed above the tables.
MAX_LISTED = 12


@dataclass
class Comparison:
    """The markdown text of a comparison and what it found."""

    markdown: str
    worse: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    #: Matched rows whose fit time is outside the noise band (informative only).
    time_flagged_rows: int = 0

    @property
    def status(self) -> int:
        """1 when a score got worse beyond the tolerance or the runs cover different rows."""
        return 1 if self.worse or self.mismatches else 0


def load(run_dir: Path) -> pd.DataFrame:
    """The rows of ``run_dir/results.csv``, read against the results schema."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no such run folder: {run_dir}")
    path = run_dir / words.RESULTS
    if not path.is_file():
        raise UserError(
            f"no results.csv in {run_dir}: is it the output folder of `mnist-bench run`?"
        )
    return parse(path)


def _key_text(row: pd.Series | dict[str, Any]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in KEY)


# ----------------------------------------------------------------------------------- formatting


def _delta(a: float, b: float, tolerance: float) -> tuple[str, int]:
    """``(text, sign)``: the change of a score, and -1 / 0 / +1 for worse / within / better.

    A missing score (NaN) in either run is a difference: sign :data:`MISSING` (compare fails
    closed; a gate must not pass on a column of NaN).
    """
    if _missing(a) or _missing(b):
        return _missing_text(a, b), MISSING
    d = b - a
    sign = -1 if d < -tolerance else 1 if d > tolerance else 0
    mark = {-1: " ▼", 0: "", 1: " ▲"}[sign]
    return ("0" if d == 0 else f"{d:+.4f}") + mark, sign


def _rel(a: float, b: float, tolerance: float) -> tuple[str, int]:
    """``(text, sign)`` of a relative change of WCSS (lower is better); missing as in _delta."""
    if _missing(a) or _missing(b):
        return _missing_text(a, b), MISSING
    if a == 0:
        return ("0", 0) if b == 0 else ("+inf% ▼", -1)
    r = b / a - 1
    sign = -1 if r > tolerance else 1 if r < -tolerance else 0
    mark = {-1: " ▼", 0: "", 1: " ▲"}[sign]
    return ("0" if r == 0 else f"{100 * r:+.2f}%") + mark, sign


def _missing_text(a: float, b: float) -> str:
    where = "A and B" if _missing(a) and _missing(b) else "A" if _missing(a) else "B"
    return f"missing in {where} ▼"


def _sort(sign: int, metric: str, worse: list[str], better: list[str], missing: list[str]) -> None:
    """File ``metric`` under the list its change ``sign`` belongs to."""
    if sign == MISSING:
        missing.append(metric)
    elif sign < 0:
        worse.append(metric)
    elif sign > 0:
        better.append(metric)


def _time(a: float, b: float, band: float) -> tuple[str, str | None]:
    """``(text, flag)`` of two times: ``a → b (×ratio)``, flagged outside the noise band."""
    if _missing(a) or _missing(b):
        return "–", None
    text = f"{a:.2f} → {b:.2f}"
    if a <= 0 or b <= 0:
        return text, None
    ratio = b / a
    text += f" (×{ratio:.2f})"
    if abs(b - a) > MIN_TIME_S and not 1 / band <= ratio <= band:
        return text + " ⚠", f"{'slower' if ratio > 1 else 'faster'} ×{ratio:.2f}"
    return text, None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _seeds(values: Any) -> str:
    return ",".join(str(int(s)) for s in sorted(values)) or "none"


def _name(row: pd.Series | dict[str, Any], with_dataset: bool) -> str:
    name = words.cell_label(str(row["extractor"]), str(row["backend"]))
    return f"{row['dataset']}: {name}" if with_dataset else name


# ------------------------------------------------------------------------------------ comparing


def compare(
    dir_a: Path,
    dir_b: Path,
    tolerance: float = 0.005,
    time_band: float = 1.5,
    all_rows: bool = False,
) -> Comparison:
    """Compare run B (``dir_b``) against run A (``dir_a``); see the module docstring."""
    if not tolerance >= 0:
        raise UserError(f"--tolerance must be >= 0, got {tolerance}")
    if not time_band >= 1:
        raise UserError(f"--time-band must be >= 1 (a ratio), got {time_band}")
    a, b = load(dir_a), load(dir_b)
    result = Comparison("")
    with_dataset = len(set(a.dataset) | set(b.dataset)) > 1

    lines = ["# mnist-bench compare", ""]
    for tag, path, frame in (("A", dir_a, a), ("B", dir_b, b)):
        env = environment.read(Path(path) / words.ENVIRONMENT)
        commit = ((env.get("git") or {}).get("commit") or "unknown")[:12]
        lines.append(
            f"- **{tag}**: `{path}`: {len(frame)} rows, {env.get('date', 'date unknown')}, "
            f"commit {commit}, config hash {env.get('config_hash', 'unknown')}"
        )
    lines += [
        f"- **tolerance**: scores ±{tolerance:g} (absolute), WCSS ±{100 * tolerance:g}% "
        f"(relative); times flagged outside ×{1 / time_band:.2f}..×{time_band:g} when they "
        f"differ by more than {MIN_TIME_S:g} s. ▼ worse, ▲ better, ⚠ time outside the band.",
        "",
    ]

    eval_a = sorted({int(k) for k in a.loc[a.eval_k, "k"]})
    eval_b = sorted({int(k) for k in b.loc[b.eval_k, "k"]})
    if eval_a != eval_b:
        result.mismatches.append(f"eval_k differs: A {eval_a}, B {eval_b}")

    cell_rows = _cells(a, b, tolerance, time_band, with_dataset, result)
    row_rows, n_matched, largest = _rows(a, b, tolerance, time_band, with_dataset, all_rows, result)

    verdict = "differs" if result.status else "no difference beyond tolerance"
    lines += [f"**Result: {verdict}** (exit status {result.status})", ""]
    found = [*result.mismatches, *(f"worse: {w}" for w in result.worse)]
    lines += [f"- {line}" for line in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"- ... and {len(found) - MAX_LISTED} more (see the tables)")
    if found:
        lines.append("")
    lines += [
        "## Cells at eval_k",
        "",
        "B's mean over the seeds both runs have, and its change from A; WCSS as relative change; "
        "times: median fit time and extraction time, A → B.",
        "",
        markdown_table(
            cell_rows,
            [
                "cell",
                "split",
                "k",
                "seeds A / B",
                *SCORE_HEADERS,
                "WCSS",
                "fit s",
                "extract s",
                "flags",
            ],
        ),
        "",
        "## Rows",
        "",
    ]
    if largest is not None:
        metric, value = largest
        lines.append(
            f"{n_matched} rows in both runs; the largest score change is {value:+.4f} ({metric})."
            if value
            else f"{n_matched} rows in both runs; every score is identical."
        )
    if result.time_flagged_rows:
        lines.append(
            f"{result.time_flagged_rows} of them have a fit time outside the noise band "
            "(listed with `--all-rows`; times do not change the exit status)."
        )
    lines.append("")
    if row_rows:
        lines += [
            "Every row:" if all_rows else "Rows with a score or coverage flag:",
            "",
            markdown_table(
                row_rows, ["cell", "split", "k", "seed", *SCORE_HEADERS, "WCSS", "fit s", "flags"]
            ),
            "",
        ]
    else:
        lines += ["No row has a score or coverage flag.", ""]
    result.markdown = "\n".join(lines)
    return result


def _cells(
    a: pd.DataFrame,
    b: pd.DataFrame,
    tolerance: float,
    band: float,
    with_dataset: bool,
    result: Comparison,
) -> list[list[Any]]:
    """One table row per cell at eval_k (matched on dataset, split, extractor, backend)."""
    groups_a = dict(list(a[a.eval_k].groupby(CELL, sort=False)))
    groups_b = dict(list(b[b.eval_k].groupby(CELL, sort=False)))
    table = []
    for cell in list(groups_a) + [c for c in groups_b if c not in groups_a]:
        ga, gb = groups_a.get(cell), groups_b.get(cell)
        first = (ga if ga is not None else gb).iloc[0]
        name = _name(first, with_dataset)
        label = f"{name}, split {first['split']}"
        flags: list[str] = []
        if ga is None or gb is None:
            only = "A" if gb is None else "B"
            flags.append(f"only in {only}")
            result.mismatches.append(f"{label}: only in run {only}")
            present = ga if gb is None else gb
            table.append(
                [
                    name,
                    first["split"],
                    _ks(present),
                    _seeds(present.seed) + f" ({only})",
                    *["–"] * (len(SCORES) + 3),
                    ", ".join(flags),
                ]
            )
            continue
        seeds_a, seeds_b = set(ga.seed), set(gb.seed)
        ks = _ks(ga) if _ks(ga) == _ks(gb) else f"{_ks(ga)} / {_ks(gb)}"
        if _ks(ga) != _ks(gb):
            flags.append(f"eval_k {ks}")
            result.mismatches.append(f"{label}: evaluated at k {ks}")
            table.append(
                [
                    name,
                    first["split"],
                    ks,
                    f"{_seeds(seeds_a)} / {_seeds(seeds_b)}",
                    *["–"] * (len(SCORES) + 3),
                    ", ".join(flags),
                ]
            )
            continue
        if seeds_a != seeds_b:
            flags.append(f"seeds {_seeds(seeds_a)} / {_seeds(seeds_b)}")
            result.mismatches.append(
                f"{label}: seeds {_seeds(seeds_a)} in A, {_seeds(seeds_b)} in B"
            )
        n_a, n_b = int(ga.n_samples.iloc[0]), int(gb.n_samples.iloc[0])
        if n_a != n_b:
            flags.append(f"{n_a:,} / {n_b:,} images")
            result.mismatches.append(f"{label}: {n_a:,} images in A, {n_b:,} in B")
        common = seeds_a & seeds_b
        if common:
            ga, gb = ga[ga.seed.isin(common)], gb[gb.seed.isin(common)]
        cells = []
        worse: list[str] = []
        better: list[str] = []
        missing: list[str] = []
        for metric in SCORES:  # a NaN on any seed makes the mean NaN: missing, not hidden
            mean_b = gb[metric].mean(skipna=False)
            text, sign = _delta(ga[metric].mean(skipna=False), mean_b, tolerance)
            cells.append(text if _missing(mean_b) or sign == MISSING else f"{mean_b:.3f} ({text})")
            _sort(sign, metric, worse, better, missing)
        text, sign = _rel(ga.wcss.mean(skipna=False), gb.wcss.mean(skipna=False), tolerance)
        cells.append(text)
        _sort(sign, "wcss", worse, better, missing)
        fit, fit_flag = _time(ga.fit_s.median(), gb.fit_s.median(), band)
        ext, ext_flag = _time(ga.extract_s.iloc[0], gb.extract_s.iloc[0], band)
        if worse:
            flags.append("worse: " + ", ".join(worse))
            result.worse.append(f"{label} (mean over seeds): {', '.join(worse)}")
        if missing:
            flags.append("missing: " + ", ".join(missing))
            result.worse.append(f"{label} (mean over seeds): no value for {', '.join(missing)}")
        if better:
            flags.append("better: " + ", ".join(better))
        if fit_flag:
            flags.append(f"fit {fit_flag}")
        if ext_flag:
            flags.append(f"extract {ext_flag}")
        table.append(
            [
                name,
                first["split"],
                ks,
                f"{_seeds(seeds_a)} / {_seeds(seeds_b)}",
                *cells,
                fit,
                ext,
                ", ".join(flags) or "–",
            ]
        )
    return table


def _ks(group: pd.DataFrame) -> str:
    return ",".join(str(int(k)) for k in sorted(set(group.k)))


def _rows(
    a: pd.DataFrame,
    b: pd.DataFrame,
    tolerance: float,
    band: float,
    with_dataset: bool,
    all_rows: bool,
    result: Comparison,
) -> tuple[list[list[Any]], int, tuple[str, float] | None]:
    """The row-by-row table, the number of matched rows and the largest score change."""
    merged = a.assign(_pos=range(len(a))).merge(
        b.assign(_pos=range(len(a), len(a) + len(b))),
        on=KEY,
        how="outer",
        suffixes=("_a", "_b"),
        indicator=True,
        sort=False,
    )
    merged = merged.iloc[merged["_pos_a"].fillna(merged["_pos_b"]).argsort(kind="stable")]
    table = []
    largest: tuple[str, float] | None = None
    only = {"left_only": [], "right_only": []}
    for _, row in merged.iterrows():
        name = _name(row, with_dataset)
        side = row["_merge"]
        if side != "both":
            only[side].append(row)
            tag = "A" if side == "left_only" else "B"
            table.append(
                [
                    name,
                    row["split"],
                    int(row["k"]),
                    int(row["seed"]),
                    *["–"] * (len(SCORES) + 2),
                    f"only in {tag}",
                ]
            )
            continue
        flags: list[str] = []
        cells: list[str] = []
        worse: list[str] = []
        better: list[str] = []
        missing: list[str] = []
        for metric in SCORES:
            va, vb = row[f"{metric}_a"], row[f"{metric}_b"]
            text, sign = _delta(va, vb, tolerance)
            cells.append(text)
            _sort(sign, metric, worse, better, missing)
            if not (_missing(va) or _missing(vb)) and (
                largest is None or abs(vb - va) > abs(largest[1])
            ):
                largest = (metric, float(vb - va))
        text, sign = _rel(row["wcss_a"], row["wcss_b"], tolerance)
        cells.append(text)
        _sort(sign, "wcss", worse, better, missing)
        fit, fit_flag = _time(row["fit_s_a"], row["fit_s_b"], band)
        if bool(row["eval_k_a"]) != bool(row["eval_k_b"]):
            flags.append("eval_k differs")
        if worse:
            flags.append("worse: " + ", ".join(worse))
            result.worse.append(f"row {_key_text(row)}: {', '.join(worse)}")
        if missing:
            flags.append("missing: " + ", ".join(missing))
            result.worse.append(f"row {_key_text(row)}: no value for {', '.join(missing)}")
        if better:
            flags.append("better: " + ", ".join(better))
        listed = bool(flags)  # rows flagged only for their time are counted, not listed
        if fit_flag:
            flags.append(f"fit {fit_flag}")
            result.time_flagged_rows += 1
        if listed or all_rows:
            table.append(
                [
                    name,
                    row["split"],
                    int(row["k"]),
                    int(row["seed"]),
                    *cells,
                    fit,
                    ", ".join(flags) or "–",
                ]
            )
    for side, tag in (("left_only", "A"), ("right_only", "B")):
        if only[side]:
            result.mismatches.append(
                f"{len(only[side])} rows only in run {tag} (first: {_key_text(only[side][0])})"
            )
    if largest is None and (merged["_merge"] == "both").any():
        largest = ("–", 0.0)
    return table, int((merged["_merge"] == "both").sum()), largest

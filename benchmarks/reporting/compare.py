"""``mnist-bench compare DIR_A DIR_B``: where two runs differ, as markdown, with a CI exit status.

Rows are matched on (dataset, split, extractor, backend, k, seed). Two tables:

- **cells at eval_k**: per (dataset, split, extractor, backend), the mean of each score over the
  seeds both runs have (all of each run's seeds when they share none), the relative change of
  WCSS, and the ratio B / A of the median fit time and of the extraction time;
- **rows**: every matched row, score by score (only the rows with a flag, unless ``all_rows``).

How a cell is judged depends on what the two runs share:

- **exactly**, when both clustered the same features (column ``features_sha256``) with the same
  kernels (environment.json's numerics fingerprint) and thread count: the same computation, so
  any change is real. A score (purity, macro_purity, acc, nmi, ari: higher is better) whose
  seed mean, or whose value in any row, moved by more than ``tolerance`` is flagged *worse* or
  *better*; so is WCSS (lower is better) when its relative change exceeds ``tolerance``.
- **as draws**, otherwise (another kind of CPU without pins, other thread counts, features that
  changed): each start is then a new draw of the same random process, and its luck moves the
  rows and seed means as much as the seeds already disagree. The cell is judged by B's
  headline (its best-objective start, :mod:`.headline`): *worse* when below every one of A's
  seeds by more than ``tolerance``, *better* when above every one; rows and WCSS are listed, not
  judged (WCSS of other features is not comparable). A broken extractor or backend lands below
  all of A's starts; the luck of a start does not.

A time ratio outside ``[1 / time_band, time_band]`` is flagged when the two times differ by more
than ``MIN_TIME_S`` (shorter times are all noise); time flags never change the exit status.
Cells or rows present in one run only, different seeds, a different eval_k or a different number
of images are flagged as mismatches.

Exit status (:attr:`Comparison.status`): 1 when a score got worse beyond the tolerance (a cell
judged exactly, its mean or any row; a cell judged as a draw, its headline) or the runs do not
cover the same cells, seeds and eval_k; else 0. :func:`exact` (``--exact``) instead requires every
number of every row to be the same, bit for bit.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_bench.core import vocabulary as words
from mnist_bench.core.atomic import contained
from mnist_bench.core.errors import UserError
from mnist_bench.core.tables import markdown_table
from mnist_bench.grid import environment
from mnist_bench.grid.results import Row, parse
from mnist_bench.reporting import headline

log = logging.getLogger(__name__)

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
#: The first line of every comparison (``--exact`` too): what marks a file as one.
TITLE = "# mnist-bench compare"


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
    """The rows of ``run_dir/results.csv``, read against the results schema.

    Only the schema's columns are compared: another column (a user's, a later version's, or
    one named like the columns the comparison makes, ``purity_a`` or ``_merge``) is left out
    with one warning.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no such run folder: {run_dir}")
    path = run_dir / words.RESULTS
    if not path.is_file():
        raise UserError(
            f"no results.csv in {run_dir}: is it the output folder of `mnist-bench run`?"
        )
    frame = parse(path)
    foreign = [column for column in frame.columns if column not in Row.model_fields]
    if foreign:
        log.warning(
            "%s: column(s) %s left out of the comparison (not in the results schema)",
            path,
            ", ".join(map(repr, map(str, foreign))),
        )
    return frame.drop(columns=foreign)


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


@dataclass
class _Changes:
    """The scores of a cell or a row that got worse, went missing or got better, by name."""

    worse: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    better: list[str] = field(default_factory=list)

    def file(self, sign: int, metric: str) -> None:
        """File ``metric`` under the list its change ``sign`` belongs to."""
        if sign == MISSING:
            self.missing.append(metric)
        elif sign < 0:
            self.worse.append(metric)
        elif sign > 0:
            self.better.append(metric)


def _flag(what: str, changes: _Changes, flags: list[str], result: Comparison) -> None:
    """Say what got worse, went missing or got better: in the table's ``flags``, and in
    ``result`` (worse and missing make the status 1)."""
    if changes.worse:
        flags.append("worse: " + ", ".join(changes.worse))
        result.worse.append(f"{what}: {', '.join(changes.worse)}")
    if changes.missing:
        flags.append("missing: " + ", ".join(changes.missing))
        result.worse.append(f"{what}: no value for {', '.join(changes.missing)}")
    if changes.better:
        flags.append("better: " + ", ".join(changes.better))


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


@dataclass
class _Rules:
    """What judging any cell or row needs, and the result its findings go to."""

    #: Largest score change not flagged (absolute; WCSS: relative).
    tolerance: float
    #: Time ratios outside ``[1 / band, band]`` are flagged.
    band: float
    #: Whether the runs hold more than one dataset (a cell's name then says which).
    with_dataset: bool
    #: How each cell common to both runs is judged (:func:`how_judged`).
    judged: dict[tuple, str | None]
    result: Comparison


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
    envs = [environment.read(Path(path) / words.ENVIRONMENT) for path in (dir_a, dir_b)]
    with_dataset = len(set(a.dataset) | set(b.dataset)) > 1
    rules = _Rules(tolerance, time_band, with_dataset, how_judged(a, b, *envs), Comparison(""))
    lines = _header((dir_a, dir_b), (a, b), envs, rules)
    eval_a = sorted({int(k) for k in a.loc[a.eval_k, "k"]})
    eval_b = sorted({int(k) for k in b.loc[b.eval_k, "k"]})
    if eval_a != eval_b:
        rules.result.mismatches.append(f"eval_k differs: A {eval_a}, B {eval_b}")
    cell_rows = _cells(a, b, rules)
    row_rows, n_matched, largest = _rows(a, b, all_rows, rules)
    lines += _findings(rules.result)
    lines += _cells_section(cell_rows)
    lines += _rows_section(row_rows, n_matched, largest, all_rows, rules.result)
    rules.result.markdown = "\n".join(lines)
    return rules.result


def _header(
    dirs: tuple[Path, Path],
    frames: tuple[pd.DataFrame, pd.DataFrame],
    envs: list[dict[str, Any]],
    rules: _Rules,
) -> list[str]:
    """The title, a line per run (rows, date, commit, config), the tolerances and how the cells
    were judged."""
    lines = [TITLE, ""]
    for tag, path, frame, env in zip("AB", dirs, frames, envs, strict=True):
        commit = ((env.get("git") or {}).get("commit") or "unknown")[:12]
        lines.append(
            f"- **{tag}**: `{path}`: {len(frame)} rows, {env.get('date', 'date unknown')}, "
            f"commit {commit}, config hash {env.get('config_hash', 'unknown')}"
        )
    tolerance, band = rules.tolerance, rules.band
    return [
        *lines,
        f"- **tolerance**: scores ±{tolerance:g} (absolute), WCSS ±{100 * tolerance:g}% "
        f"(relative); times flagged outside ×{1 / band:.2f}..×{band:g} when they "
        f"differ by more than {MIN_TIME_S:g} s. ▼ worse, ▲ better, ⚠ time outside the band.",
        _judged_line(rules.judged),
        "",
    ]


def _findings(result: Comparison) -> list[str]:
    """The verdict and its exit status, then the first :data:`MAX_LISTED` findings."""
    verdict = "differs" if result.status else "no difference beyond tolerance"
    lines = [f"**Result: {verdict}** (exit status {result.status})", ""]
    found = [*result.mismatches, *(f"worse: {w}" for w in result.worse)]
    lines += [f"- {line}" for line in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"- ... and {len(found) - MAX_LISTED} more (see the tables)")
    if found:
        lines.append("")
    return lines


def _cells_section(cell_rows: list[list[Any]]) -> list[str]:
    """The "Cells at eval_k" section: how cells are judged, and their table."""
    headers = ["cell", "split", "k", "seeds A / B", *SCORE_HEADERS, "WCSS", "fit s", "extract s"]
    return [
        "## Cells at eval_k",
        "",
        "Judged exactly: B's mean over the seeds both runs have, and its change from A; WCSS as "
        "relative change. Judged as draws (*draw*): B's headline (best-objective start) against "
        "the range of A's seeds. Times: median fit time and extraction time, A → B.",
        "",
        markdown_table(cell_rows, [*headers, "flags"]),
        "",
    ]


def _rows_section(
    row_rows: list[list[Any]],
    n_matched: int,
    largest: tuple[str, float] | None,
    all_rows: bool,
    result: Comparison,
) -> list[str]:
    """The "Rows" section: the rows both runs have, the largest score change, the rows outside
    the time band, and the table of the flagged rows (every row with ``all_rows``)."""
    lines = ["## Rows", ""]
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
    if not row_rows:
        return [*lines, "No row has a score or coverage flag.", ""]
    headers = ["cell", "split", "k", "seed", *SCORE_HEADERS, "WCSS", "fit s", "flags"]
    return [
        *lines,
        "Every row:" if all_rows else "Rows with a score or coverage flag:",
        "",
        markdown_table(row_rows, headers),
        "",
    ]


def _cells(a: pd.DataFrame, b: pd.DataFrame, rules: _Rules) -> list[list[Any]]:
    """One table row per cell at eval_k (matched on dataset, split, extractor, backend)."""
    groups_a = dict(list(a[a.eval_k].groupby(CELL, sort=False)))
    groups_b = dict(list(b[b.eval_k].groupby(CELL, sort=False)))
    cells = list(groups_a) + [c for c in groups_b if c not in groups_a]
    return [_cell_row(cell, groups_a.get(cell), groups_b.get(cell), rules) for cell in cells]


def _cell_row(
    cell: tuple, ga: pd.DataFrame | None, gb: pd.DataFrame | None, rules: _Rules
) -> list[Any]:
    """The table row of one cell (its rows at eval_k in A and in B); what it finds goes to
    ``rules.result``."""
    first = (ga if ga is not None else gb).iloc[0]
    name = _name(first, rules.with_dataset)
    label = f"{name}, split {first['split']}"
    if ga is None or gb is None:
        return _one_sided_cell(name, label, first["split"], ga, gb, rules.result)
    seeds = f"{_seeds(set(ga.seed))} / {_seeds(set(gb.seed))}"
    if _ks(ga) != _ks(gb):
        ks = f"{_ks(ga)} / {_ks(gb)}"
        rules.result.mismatches.append(f"{label}: evaluated at k {ks}")
        return [name, first["split"], ks, seeds, *["–"] * (len(SCORES) + 3), f"eval_k {ks}"]
    flags = _coverage_flags(label, ga, gb, rules.result)
    common = set(ga.seed) & set(gb.seed)
    if common:
        ga, gb = ga[ga.seed.isin(common)], gb[gb.seed.isin(common)]
    why = rules.judged.get(cell)
    if why is None:
        cells, changes = _exact_cells(ga, gb, rules.tolerance)
    else:
        flags.append(f"draw: {why}")
        cells, changes = _draw_cells(ga, gb, rules.tolerance)
    fit, fit_flag = _time(ga.fit_s.median(), gb.fit_s.median(), rules.band)
    ext, ext_flag = _time(ga.extract_s.iloc[0], gb.extract_s.iloc[0], rules.band)
    what = "mean over seeds" if why is None else "headline against A's seeds"
    _flag(f"{label} ({what})", changes, flags, rules.result)
    if fit_flag:
        flags.append(f"fit {fit_flag}")
    if ext_flag:
        flags.append(f"extract {ext_flag}")
    return [name, first["split"], _ks(ga), seeds, *cells, fit, ext, ", ".join(flags) or "–"]


def _one_sided_cell(
    name: str,
    label: str,
    split: str,
    ga: pd.DataFrame | None,
    gb: pd.DataFrame | None,
    result: Comparison,
) -> list[Any]:
    """The table row of a cell in one run only (a mismatch)."""
    only = "A" if gb is None else "B"
    result.mismatches.append(f"{label}: only in run {only}")
    present = ga if gb is None else gb
    seeds = _seeds(present.seed) + f" ({only})"
    return [name, split, _ks(present), seeds, *["–"] * (len(SCORES) + 3), f"only in {only}"]


def _coverage_flags(
    label: str, ga: pd.DataFrame, gb: pd.DataFrame, result: Comparison
) -> list[str]:
    """The flags of a cell whose runs have other seeds or another number of images (each a
    mismatch in ``result``)."""
    flags = []
    seeds_a, seeds_b = set(ga.seed), set(gb.seed)
    if seeds_a != seeds_b:
        flags.append(f"seeds {_seeds(seeds_a)} / {_seeds(seeds_b)}")
        result.mismatches.append(f"{label}: seeds {_seeds(seeds_a)} in A, {_seeds(seeds_b)} in B")
    n_a, n_b = int(ga.n_samples.iloc[0]), int(gb.n_samples.iloc[0])
    if n_a != n_b:
        flags.append(f"{n_a:,} / {n_b:,} images")
        result.mismatches.append(f"{label}: {n_a:,} images in A, {n_b:,} in B")
    return flags


def _exact_cells(
    ga: pd.DataFrame, gb: pd.DataFrame, tolerance: float
) -> tuple[list[str], _Changes]:
    """A cell judged exactly: B's mean of each score and its change from A's, WCSS's relative
    change; a NaN on any seed makes the mean NaN (missing, not hidden)."""
    cells, changes = [], _Changes()
    for metric in SCORES:
        mean_b = gb[metric].mean(skipna=False)
        text, sign = _delta(ga[metric].mean(skipna=False), mean_b, tolerance)
        cells.append(text if _missing(mean_b) or sign == MISSING else f"{mean_b:.3f} ({text})")
        changes.file(sign, metric)
    text, sign = _rel(ga.wcss.mean(skipna=False), gb.wcss.mean(skipna=False), tolerance)
    cells.append(text)
    changes.file(sign, "wcss")
    return cells, changes


def _draw_cells(ga: pd.DataFrame, gb: pd.DataFrame, tolerance: float) -> tuple[list[str], _Changes]:
    """A cell judged as draws: B's headline of each score against the range of A's seeds;
    WCSS not comparable."""
    cells, changes = [], _Changes()
    pick = headline.chosen(gb)
    for metric in SCORES:
        text, sign = _against_seeds(ga[metric], pick[metric], tolerance)
        cells.append(text)
        changes.file(sign, metric)
    return [*cells, "not comparable"], changes


def _ks(group: pd.DataFrame) -> str:
    return ",".join(str(int(k)) for k in sorted(set(group.k)))


def _rows(
    a: pd.DataFrame, b: pd.DataFrame, all_rows: bool, rules: _Rules
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
    only: dict[str, list[pd.Series]] = {"left_only": [], "right_only": []}
    for _, row in merged.iterrows():
        if row["_merge"] != "both":
            only[row["_merge"]].append(row)
            table.append(_one_sided_row(row, rules.with_dataset))
            continue
        cells, changes, largest = _row_scores(row, rules.tolerance, largest)
        listed = _matched_row(row, cells, changes, all_rows, rules)
        if listed is not None:
            table.append(listed)
    for side, tag in (("left_only", "A"), ("right_only", "B")):
        if only[side]:
            rules.result.mismatches.append(
                f"{len(only[side])} rows only in run {tag} (first: {_key_text(only[side][0])})"
            )
    if largest is None and (merged["_merge"] == "both").any():
        largest = ("–", 0.0)
    return table, int((merged["_merge"] == "both").sum()), largest


def _one_sided_row(row: pd.Series, with_dataset: bool) -> list[Any]:
    """The table row of a row in one run only."""
    tag = "A" if row["_merge"] == "left_only" else "B"
    name = _name(row, with_dataset)
    keys = [name, row["split"], int(row["k"]), int(row["seed"])]
    return [*keys, *["–"] * (len(SCORES) + 2), f"only in {tag}"]


def _row_scores(
    row: pd.Series, tolerance: float, largest: tuple[str, float] | None
) -> tuple[list[str], _Changes, tuple[str, float] | None]:
    """A matched row's change of each score and of WCSS, and the largest score change so far
    (``largest`` or this row's)."""
    cells, changes = [], _Changes()
    for metric in SCORES:
        va, vb = row[f"{metric}_a"], row[f"{metric}_b"]
        text, sign = _delta(va, vb, tolerance)
        cells.append(text)
        changes.file(sign, metric)
        if not (_missing(va) or _missing(vb)) and (
            largest is None or abs(vb - va) > abs(largest[1])
        ):
            largest = (metric, float(vb - va))
    text, sign = _rel(row["wcss_a"], row["wcss_b"], tolerance)
    cells.append(text)
    changes.file(sign, "wcss")
    return cells, changes, largest


def _matched_row(
    row: pd.Series, cells: list[str], changes: _Changes, all_rows: bool, rules: _Rules
) -> list[Any] | None:
    """The table row of a row both runs have, or None when it is not listed (no flag but its
    time, and not ``all_rows``); its findings go to ``rules.result``."""
    flags: list[str] = []
    fit, fit_flag = _time(row["fit_s_a"], row["fit_s_b"], rules.band)
    if bool(row["eval_k_a"]) != bool(row["eval_k_b"]):
        flags.append("eval_k differs")
    why = rules.judged.get(tuple(row[c] for c in CELL))
    if why is not None:  # a draw: listed with --all-rows, judged by its cell
        changes.worse, changes.better = [], []
    _flag(f"row {_key_text(row)}", changes, flags, rules.result)
    listed = bool(flags)  # rows flagged only for their time are counted, not listed
    if why is not None:
        flags.append("draw")
    if fit_flag:
        flags.append(f"fit {fit_flag}")
        rules.result.time_flagged_rows += 1
    if not (listed or all_rows):
        return None
    keys = [_name(row, rules.with_dataset), row["split"], int(row["k"]), int(row["seed"])]
    return [*keys, *cells, fit, ", ".join(flags) or "–"]


# ------------------------------------------------------------------------- exactly or as draws


def how_judged(
    a: pd.DataFrame, b: pd.DataFrame, env_a: dict[str, Any], env_b: dict[str, Any]
) -> dict[tuple, str | None]:
    """Per cell (the :data:`CELL` values) of both runs: None when the two runs did the same
    computation (judged exactly), else why not (judged as draws).

    The same computation: the same features (``features_sha256``; a run written before it was
    recorded cannot show it), the same thread count, and the same kernels (environment.json's
    numerics fingerprint, where both runs record it).
    """
    kernels_a = (env_a.get("numerics") or {}).get("fingerprint")
    kernels_b = (env_b.get("numerics") or {}).get("fingerprint")
    other_kernels = bool(kernels_a and kernels_b and kernels_a != kernels_b)
    judged: dict[tuple, str | None] = {}
    groups_b = dict(list(b.groupby(CELL, sort=False)))
    for cell, ga in a.groupby(CELL, sort=False):
        gb = groups_b.get(cell)
        if gb is None:
            continue
        judged[cell] = _why_draws(ga, gb, other_kernels)
    return judged


def _why_draws(ga: pd.DataFrame, gb: pd.DataFrame, other_kernels: bool) -> str | None:
    digests = [_values(g, "features_sha256") for g in (ga, gb)]
    if not all(digests):
        return "features not recorded"
    if digests[0] != digests[1]:
        return "features differ"
    threads = [_values(g, "threads") for g in (ga, gb)]
    if all(threads) and threads[0] != threads[1]:
        return "thread counts differ"
    if other_kernels:
        return "other kernels (numerics)"
    return None


def _values(group: pd.DataFrame, column: str) -> set[Any]:
    return set(group[column].dropna()) if column in group else set()


def _against_seeds(a: pd.Series, value: float, tolerance: float) -> tuple[str, int]:
    """``(text, sign)`` of B's headline ``value`` against the range of A's seeds: -1 below
    every seed by more than ``tolerance``, +1 above every one, 0 within; missing as in _delta."""
    a = a.dropna()
    if a.empty or _missing(value):
        return _missing_text(math.nan if a.empty else 0.0, value), MISSING
    low, high = float(a.min()), float(a.max())
    sign = -1 if value < low - tolerance else 1 if value > high + tolerance else 0
    mark = {-1: " ▼", 0: "", 1: " ▲"}[sign]
    span = f"{low:.3f}" if low == high else f"{low:.3f}–{high:.3f}"
    return f"{value:.3f} (A {span}){mark}", sign


def _judged_line(judged: dict[tuple, str | None]) -> str:
    """The header line on how the cells were judged."""
    draws = sorted({why for why in judged.values() if why is not None})
    n_draws = sum(why is not None for why in judged.values())
    if not n_draws:
        return (
            f"- **judged**: all {len(judged)} common cells exactly (same features, kernels and "
            "threads)."
        )
    return (
        f"- **judged**: {len(judged) - n_draws} cells exactly, {n_draws} as draws "
        f"({'; '.join(draws)}): their headline against the range of A's seeds."
    )


# ------------------------------------------------------------------------------ bit for bit


def exact(dir_a: Path, dir_b: Path) -> Comparison:
    """Whether runs A and B have the same rows with the same numbers, bit for bit.

    Every column of :data:`mnist_bench.core.vocabulary.NUMBER_COLUMNS` (the features' digest,
    WCSS, the scores, iterations, objective, k-selection scores) of every row; times are not
    compared. A missing value equals a missing value. Status 1 on any difference.
    """
    a, b = load(dir_a), load(dir_b)
    result = Comparison("")
    merged = a.merge(b, on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True, sort=False)
    for side, tag in (("left_only", "A"), ("right_only", "B")):
        only = merged[merged["_merge"] == side]
        if len(only):
            result.mismatches.append(
                f"{len(only)} rows only in run {tag} (first: {_key_text(only.iloc[0])})"
            )
    both = merged[merged["_merge"] == "both"]
    columns = [c for c in words.NUMBER_COLUMNS if f"{c}_a" in both and f"{c}_b" in both]
    for _, row in both.iterrows():
        for column in columns:
            va, vb = row[f"{column}_a"], row[f"{column}_b"]
            if not (va == vb or (_missing(va) and _missing(vb))):
                result.worse.append(f"row {_key_text(row)}: {column} {va!r} in A, {vb!r} in B")
    verdict = "identical" if not result.status else "differ"
    rows_differing = len({w.split(": ", 1)[0] for w in result.worse})
    lines = [
        f"{TITLE} --exact",
        "",
        f"- **A**: `{dir_a}`, **B**: `{dir_b}`: {len(both)} rows in both, compared bit for bit "
        f"on {len(columns)} columns ({', '.join(columns)}).",
        f"- {len(result.worse)} numbers differ, in {rows_differing} of the {len(both)} rows.",
        "",
        f"**Result: {verdict}** (exit status {result.status})",
        "",
    ]
    found = [*result.mismatches, *result.worse]
    lines += [f"- {line}" for line in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"- ... and {len(found) - MAX_LISTED} more")
    result.markdown = "\n".join(lines)
    return result


def check_out(out: Path, dir_a: Path, dir_b: Path) -> None:
    """Refuse (:class:`UserError`) a ``--out`` that would overwrite anything but an earlier
    comparison: run folder A or B itself, a file of a run folder (its results.csv, REPORT.md,
    pictures, ...), or any other file that does not start with :data:`TITLE`."""
    contained(Path(os.path.abspath(out)).parent, out)  # the rule of every write: no link out
    target = _resolved(out)
    for tag, run in (("A", dir_a), ("B", dir_b)):
        if target == _resolved(run):
            raise UserError(f"--out {out} is run folder {tag} itself; name a new file")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; name the file to write")
    run = words.run_folder_owning(out)
    if run is not None:
        raise UserError(f"--out {out} is a file of the run folder {run}; name a new file")
    if (out.exists() or out.is_symlink()) and not _is_comparison(out):
        raise UserError(
            f"--out {out} exists and is not an earlier comparison; refusing to overwrite it "
            "(name a new file, or remove it first)"
        )


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a link loop
        raise UserError(f"cannot resolve {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _is_comparison(path: Path) -> bool:
    """Whether ``path`` is a plain file whose first line is a comparison's title."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(TITLE) + 1)
    except OSError:
        return False
    return head in (TITLE.encode() + b"\n", TITLE.encode() + b" ")

"""A run's one record of time: every span it timed, which stage and side, and what it was about.

A :class:`Clock` records spans: a stage (``fit: sklearn``, ``extract: umap``, ``report``...), a
side, ``library`` (the work being benchmarked: an extractor's fit and transform, a backend's
fit and predict) or ``suite`` (all the rest: start-up and imports, loading data, the cache,
WCSS and scores, label files, the journal, results, pictures and the report), the seconds, and
what the span was about (the job: split, extractor, backend, k, seed; or the extractor whose
features were made). The grid and ``mnist-bench run`` fill one and write its
:meth:`Clock.record` to the run folder (``times.json``). Everything else about time is derived
from that record:

- :func:`timeshare`: seconds per stage on each side (``timeshare.json``, the report's "where
  the time went");
- ``benchmark.json``: pytest-benchmark's statistics of the extractions and of each cell's fit
  and predict at eval_k (:func:`mnist_bench.analyses.time.benchmark.benchmark_json`);
- the rows' ``fit_s``, ``predict_s`` and ``own_s`` are the seconds of the same spans.

Spans of rows an interrupted run measured and this one kept are in the record marked
``resumed``: ``benchmark.json`` counts them, the stage table of this run's time does not.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

LIBRARY = "library"
SUITE = "suite"
#: Stages of ``mnist-bench run`` outside the grid (the rest, from loading the data to writing
#: results.csv, are the grid's).
STARTUP, PICTURES, REPORT, OTHER = "start-up", "pictures", "report", "other"
OUTSIDE_GRID = (STARTUP, PICTURES, REPORT, OTHER)
#: Version of the record :meth:`Clock.record` writes (``times.json``), and of the stage sums
#: :func:`timeshare` derives from it (``timeshare.json``).
RECORD_VERSION = 2
TIMESHARE_VERSION = 1
#: The mark of a span an interrupted run measured, kept with its row.
RESUMED = "resumed"
#: The order of the stages in the record, by the start of their names (others go last).
ORDER = (
    "start-up",
    "load data",
    "checks",
    "extract",
    "fit",
    "predict",
    "WCSS",
    "label files",
    "resume journal",
    "results",
    "pictures",
    "report",
)


def process_age() -> float | None:
    """Seconds since this process started (Linux: ``/proc/self/stat``), or None where unknown.

    So the interpreter's start and the imports before ``main`` are measured too.
    """
    try:
        with open("/proc/self/stat") as fh:
            stat = fh.read()
        # field 22 (starttime, clock ticks since boot) counts from after the ")" of the name
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        started = ticks / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@dataclass
class Span:
    """The seconds one timed block took (set when the block ends)."""

    seconds: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Span]:
    """Time the block: the :class:`Span` it gives holds its seconds once it ends (or raises)."""
    span = Span()
    start = time.perf_counter()
    try:
        yield span
    finally:
        span.seconds = time.perf_counter() - start


class Clock:
    """The spans of one run, in the order they ended."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.notes: dict[str, str] = {}
        self._about: dict[str, Any] = {}

    def add(
        self,
        stage: str,
        seconds: float,
        side: str = SUITE,
        note: str | None = None,
        **about: Any,
    ) -> None:
        """Record ``seconds`` of ``stage`` on ``side`` (``"library"`` or ``"suite"``), about
        what :meth:`about` says in force and ``about``."""
        if side not in (LIBRARY, SUITE):
            raise ValueError(f"side must be {LIBRARY!r} or {SUITE!r}, not {side!r}")
        span = {"stage": stage, "side": side, "seconds": max(0.0, float(seconds))}
        self.spans.append(span | self._about | about)
        if note:
            self.notes[stage] = note

    @contextlib.contextmanager
    def about(self, **labels: Any) -> Iterator[None]:
        """Within the block, every span recorded is about ``labels`` too (a job, say)."""
        saved = self._about
        self._about = {**saved, **labels}
        try:
            yield
        finally:
            self._about = saved

    @contextlib.contextmanager
    def stage(self, stage: str, side: str = SUITE, note: str | None = None) -> Iterator[Span]:
        """Time the block and record it as ``stage`` (also when the block raises); the
        :class:`Span` it gives holds the block's seconds once the block is over."""
        span = Span()
        try:
            with timed() as span:
                yield span
        finally:
            self.add(stage, span.seconds, side, note)

    def total(self, side: str) -> float:
        """Seconds on ``side`` measured by this run (spans kept from another run aside)."""
        return sum(s["seconds"] for s in self.spans if s["side"] == side and not s.get(RESUMED))

    def record(self, wall_s: float | None = None) -> dict[str, Any]:
        """The record (``times.json``): every span, the stages' notes, and the wall time of
        the whole command when known (from :func:`process_age` at the end)."""
        return {
            "version": RECORD_VERSION,
            "spans": list(self.spans),
            "notes": dict(self.notes),
            "wall_s": wall_s,
        }

    def timeshare(self, wall_s: float | None = None) -> dict[str, Any]:
        """:func:`timeshare` of this clock's record."""
        return timeshare(self.record(wall_s))


def timeshare(record: dict[str, Any]) -> dict[str, Any]:
    """Seconds per stage on each side, from a record (``timeshare.json``): the stages in the
    order of a run, spans kept from an interrupted run left out.

    With the record's ``wall_s``, a stage ``other`` on the suite's side holds the part of the
    wall time no stage measured (interpreter exit aside).
    """
    sums: dict[str, dict[str, float]] = {}
    for span in record["spans"]:
        if not span.get(RESUMED):
            sides = sums.setdefault(span["stage"], {LIBRARY: 0.0, SUITE: 0.0})
            sides[span["side"]] += span["seconds"]
    notes = record.get("notes", {})
    stages = [
        {"stage": name, "library_s": sides[LIBRARY], "suite_s": sides[SUITE]}
        | ({"note": notes[name]} if name in notes else {})
        for name, sides in sorted(sums.items(), key=lambda item: _rank(item[0]))
    ]
    shares: dict[str, Any] = {"version": TIMESHARE_VERSION, "stages": stages}
    wall_s = record.get("wall_s")
    if wall_s is not None:
        measured = sum(s["library_s"] + s["suite_s"] for s in stages)
        stages.append(
            {
                "stage": OTHER,
                "library_s": 0.0,
                "suite_s": max(0.0, wall_s - measured),
                "note": "not measured by a stage: argument parsing, locks, progress lines",
            }
        )
        shares["wall_s"] = wall_s
    return shares


def _rank(stage: str) -> int:
    return next((i for i, start in enumerate(ORDER) if stage.startswith(start)), len(ORDER))

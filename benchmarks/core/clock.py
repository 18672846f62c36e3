"""Where a run's time goes: wall-clock seconds per stage, split into the libraries' and the suite's.

A :class:`Clock` sums measured seconds per stage on two sides: ``library`` (the work being
benchmarked: an extractor's fit and transform, a backend's fit and predict) and ``suite`` (all
the rest: start-up and imports, loading data, the cache, WCSS and scores, label files, the
journal, results, pictures and the report). The grid and ``mnist-bench run`` fill one, and
:meth:`Clock.to_dict` is what they write to the run folder (``timeshare.json``) for the report.
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
#: Version of the record :meth:`Clock.to_dict` writes.
RECORD_VERSION = 1
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
    """Seconds per (stage, side), in the order the stages were first seen."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.notes: dict[str, str] = {}

    def add(self, stage: str, seconds: float, side: str = SUITE, note: str | None = None) -> None:
        """Add ``seconds`` to ``stage`` on ``side`` (``"library"`` or ``"suite"``)."""
        if side not in (LIBRARY, SUITE):
            raise ValueError(f"side must be {LIBRARY!r} or {SUITE!r}, not {side!r}")
        sides = self.stages.setdefault(stage, {LIBRARY: 0.0, SUITE: 0.0})
        sides[side] += max(0.0, float(seconds))
        if note:
            self.notes[stage] = note

    @contextlib.contextmanager
    def stage(self, stage: str, side: str = SUITE, note: str | None = None) -> Iterator[Span]:
        """Time the block and add it to ``stage`` (also when the block raises); the
        :class:`Span` it gives holds the block's seconds once the block is over."""
        span = Span()
        try:
            with timed() as span:
                yield span
        finally:
            self.add(stage, span.seconds, side, note)

    def total(self, side: str) -> float:
        return sum(sides[side] for sides in self.stages.values())

    def to_dict(self, wall_s: float | None = None) -> dict[str, Any]:
        """The record: every stage with its two sides, and the wall time of the whole command.

        ``wall_s`` (from :func:`process_age` at the end) adds a stage ``other`` on the suite's
        side: the part of the wall time no stage measured (interpreter exit aside).
        """
        stages = [
            {"stage": name, "library_s": sides[LIBRARY], "suite_s": sides[SUITE]}
            | ({"note": self.notes[name]} if name in self.notes else {})
            for name, sides in sorted(self.stages.items(), key=lambda item: _rank(item[0]))
        ]
        record: dict[str, Any] = {"version": RECORD_VERSION, "stages": stages}
        if wall_s is not None:
            measured = self.total(LIBRARY) + self.total(SUITE)
            stages.append(
                {
                    "stage": OTHER,
                    "library_s": 0.0,
                    "suite_s": max(0.0, wall_s - measured),
                    "note": "not measured by a stage: argument parsing, locks, progress lines",
                }
            )
            record["wall_s"] = wall_s
        return record


def _rank(stage: str) -> int:
    return next((i for i, start in enumerate(ORDER) if stage.startswith(start)), len(ORDER))

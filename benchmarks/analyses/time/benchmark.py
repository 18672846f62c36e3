"""``benchmark.json``: the stages of a run as pytest-benchmark statistics, derived from the run's
one record of time (``times.json``, :mod:`mnist_bench.analyses.time.clock`).

The grid times every stage it runs once: each extraction, and each cell's fit and assignment
on every seed at eval_k. Rather than run the stages again in rounds, those spans become
pytest-benchmark's statistics (its ``Stats``: rounds, min, median, IQR, ...) in its JSON format,
so ``tox -e bench`` measures each stage once and tools that read pytest-benchmark's files read
this one. ``benchmarks/stages/`` still times the stages in repeated rounds, for whoever wants
that (``tox -e stages``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mnist_bench.core.own_files import read_checked

#: The key of an extraction's span that holds the seconds its features took when made.
MADE = "made_s"


def _cell_name(span: dict[str, Any]) -> str:
    """``extractor-backend`` (``-split`` when not ``all``): a cell's name in benchmark.json."""
    split = "" if span["split"] == "all" else f"-{span['split']}"
    return f"{span['extractor']}-{span['backend']}{split}"


def _stats(values: list[float]) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for value in values:
        stats.update(float(value))
    return {**stats.as_dict(), "data": list(map(float, values)), "iterations": 1}


def _entry(group: str, name: str, values: list[float], info: dict[str, Any]) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "fullname": f"mnist-bench run::{name}",
        "params": None,
        "param": None,
        "extra_info": info,
        "options": {"timer": "perf_counter", "source": "the grid's own measurement (results.csv)"},
        "stats": _stats(values),
    }


def benchmark_json(record: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's JSON document of the stages in a run's record of time
    (:meth:`mnist_bench.analyses.time.clock.Clock.record`): each extraction once (the seconds its
    features took when made, here or by the run that cached them), each cell's fit and predict
    at eval_k once per seed (spans kept from an interrupted run included)."""
    from pytest_benchmark import __version__

    benchmarks = []
    for span in record["spans"]:
        if MADE in span:
            info = {"n_images": span["n_images"]}
            name = f"extract[{span['extractor']}]"
            benchmarks.append(_entry("extract", name, [span[MADE]], info))
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for span in record["spans"]:
        if span.get("eval_k") and span["stage"].startswith(("fit: ", "predict: ")):
            cells.setdefault((span["stage"].split(":")[0], _cell_name(span)), []).append(span)
    for (what, name), spans in cells.items():
        info = {"n_samples": spans[0]["n_samples"], "k": spans[0]["k"], "seeds": len(spans)}
        group = f"{what} k={spans[0]['k']}"
        seconds = [span["seconds"] for span in spans]
        benchmarks.append(_entry(group, f"{what}[{name}]", seconds, info))
    git = env.get("git") or {}
    return {
        "machine_info": {
            "cpu": env.get("cpu"),
            "python_version": env.get("python"),
            "platform": env.get("platform"),
            "threads": env.get("threads"),
        },
        "commit_info": {"id": git.get("commit"), "dirty": git.get("dirty")},
        "benchmarks": benchmarks,
        "datetime": env.get("date") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }


class _Stats(BaseModel):
    model_config = ConfigDict(extra="allow")
    rounds: int
    median: float
    min: float
    iqr: float


class _Benchmark(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    group: str = ""
    stats: _Stats


class BenchmarkFile(BaseModel):
    """What the report reads of benchmark.json (pytest-benchmark's format)."""

    model_config = ConfigDict(extra="allow")
    benchmarks: list[_Benchmark] = Field(default_factory=list)


def read(path: Path) -> dict[str, Any]:
    """A run's benchmark.json, checked (``{}`` when missing or damaged, with a warning)."""
    return read_checked(path, BenchmarkFile)

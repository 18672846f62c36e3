"""``benchmark.json``: the grid's own timings, as pytest-benchmark statistics (one timing pass).

The grid already times every stage it runs: each extractor once (``extract_s``) and each cell's
fit and assignment on every seed at eval_k (``fit_s``, ``predict_s``). Rather than run the
stages again in rounds, those measurements become pytest-benchmark's statistics (its ``Stats``:
rounds, min, median, IQR, ...) in its JSON format, so ``tox -e bench`` measures each stage once
and tools that read pytest-benchmark's files read this one. ``benchmarks/stages/`` still times
the stages in repeated rounds, for whoever wants that (``pytest benchmarks/stages``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mnist_bench.core.own_files import read_checked
from mnist_bench.core.vocabulary import CELL_KEY


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


def benchmark_json(frame: pd.DataFrame, env: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's JSON document of the stage timings in the rows of ``frame``."""
    from pytest_benchmark import __version__

    benchmarks = []
    for extractor, group in frame.groupby("extractor", sort=False):
        first = group.iloc[0]
        benchmarks.append(
            _entry(
                "extract",
                f"extract[{extractor}]",
                [float(first["extract_s"])],
                {"n_images": int(group["n_samples"].max())},
            )
        )
    evals = frame[frame["eval_k"].astype(bool)]
    for (_, split, extractor, backend), group in evals.groupby(list(CELL_KEY), sort=False):
        k = int(group["k"].iloc[0])
        name = f"{extractor}-{backend}" + ("" if split == "all" else f"-{split}")
        info = {"n_samples": int(group["n_samples"].iloc[0]), "k": k, "seeds": len(group)}
        benchmarks.append(_entry(f"fit k={k}", f"fit[{name}]", list(group["fit_s"]), info))
        benchmarks.append(
            _entry(f"predict k={k}", f"predict[{name}]", list(group["predict_s"]), info)
        )
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

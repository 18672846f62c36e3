"""Property-based hostile input (hypothesis), through the CLI in a subprocess.

Generated grid configs, generated CLI values and mutated results.csv files. The property, for
every one: the exit status is 0, 1 or 2; no traceback; nothing is written outside ``--out``
(and the cache folder the command was given). A few examples each under ``-m ci`` (CI runs
them; each example is a subprocess or two, so the default run leaves them out); many more with
``-m slow`` (``tox -e py -- -m slow tests/test_properties.py``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, seed_layouts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_bench.core import vocabulary as words

#: Examples per property under ``-m ci``, and under ``-m slow`` (``$MNIST_BENCH_EXAMPLES``).
FAST, MANY = 5, int(os.environ.get("MNIST_BENCH_EXAMPLES", "150"))
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}

# ---------------------------------------------------------------------------------- strategies

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("/.-,\\ \t"),
    max_size=12,
)
JUNK = st.one_of(
    st.integers(-(2**40), 2**40),
    st.booleans(),
    TEXT,
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(-3, 20), max_size=3),
    st.dictionaries(st.sampled_from(["a", "n_components", "steps"]), st.integers(), max_size=2),
)
SMALL_K = st.one_of(
    st.integers(-3, 30),
    st.sampled_from(["2-4", "3", "1-100000000000", "0", "4-2", "a", "2,5", ""]),
    st.lists(st.integers(-3, 30), max_size=3),
    st.booleans(),
    TEXT,
)
PARAMS = {
    "raw": st.just({}),
    "pca": st.fixed_dictionaries(
        {}, optional={"n_components": st.one_of(st.integers(-3, 80), JUNK), "whiten": JUNK}
    ),
    "hog": st.fixed_dictionaries(
        {},
        optional={
            "orientations": st.one_of(st.integers(-2, 12), JUNK),
            "pixels_per_cell": st.one_of(st.integers(-1, 5), JUNK),
            "cells_per_block": st.one_of(st.integers(-1, 3), JUNK),
            "block_norm": st.one_of(st.sampled_from(["L1", "L2", "L3"]), JUNK),
        },
    ),
    "sklearn": st.fixed_dictionaries(
        {},
        optional={
            "algorithm": st.one_of(st.sampled_from(["lloyd", "elkan", "bogus"]), JUNK),
            "max_iter": st.one_of(st.integers(-1, 50), JUNK),
            "seed": JUNK,
        },
    ),
    "faiss": st.fixed_dictionaries({}, optional={"niter": st.one_of(st.integers(-2, 30), JUNK)}),
    "gmm": st.fixed_dictionaries(
        {},
        optional={
            "covariance_type": st.one_of(st.sampled_from(["full", "diag", "round"]), JUNK),
            "max_iter": st.one_of(st.integers(-1, 30), JUNK),
        },
    ),
}
PLUGIN_NAMES = st.sampled_from(["../x", "nope", "", "a/b", ".hidden", "x" * 70])


def _tables(names: list[str], junk_names: bool) -> st.SearchStrategy[Any]:
    known = st.sampled_from(names).flatmap(lambda n: PARAMS[n].map(lambda p: (n, p)))
    entry = known | PLUGIN_NAMES.map(lambda n: (n, {})) if junk_names else known
    tables = st.lists(entry, min_size=0, max_size=2).map(dict)
    return st.one_of(tables, tables, st.lists(st.sampled_from(names), max_size=2), JUNK)


CONFIGS = st.fixed_dictionaries(
    {"dataset": st.one_of(st.just("digits"), st.just("digits"), JUNK)},
    optional={
        "limit": st.one_of(st.sampled_from([0, 50, 500, 1797, 1798, -1]), JUNK),
        "splits": st.one_of(
            st.lists(st.sampled_from(["all", "train", "test", "x/../y", ""]), max_size=3), JUNK
        ),
        "holdout_split": st.one_of(st.booleans(), JUNK),
        "k": SMALL_K,
        "eval_k": SMALL_K,
        "seeds": st.one_of(st.lists(st.integers(-1, 2**33), max_size=3), JUNK),
        "threads": st.one_of(st.integers(-1, 3), JUNK),
        "sweep_all_seeds": st.one_of(st.booleans(), JUNK),
        "extractors": _tables(["raw", "pca", "hog"], True),
        "backends": _tables(["sklearn", "faiss", "gmm"], True),
        "backend_extractors": st.one_of(
            st.dictionaries(st.sampled_from(["gmm", "nope"]), st.lists(TEXT, max_size=2)), JUNK
        ),
        "colour": JUNK,
    },
)

FLAGS = ["--k", "--seeds", "--limit", "--threads", "--eval-k", "--extractors", "--backends"]
FLAGS += ["--dataset"]
FLAG_VALUES = st.one_of(
    st.text(alphabet="0123456789-,.x ab/", max_size=6),
    st.sampled_from(["4294967296", "1-100000000000", "-1", "0", "../../x", "raw,../x", ""]),
    TEXT,
)


def _cell_text() -> st.SearchStrategy[str]:
    return st.one_of(
        TEXT,
        st.sampled_from(["nan", "inf", "-1", "1e309", "../../../x", "True", "", "1.5", "0"]),
        st.integers().map(str),
    )


# ------------------------------------------------------------------------------------- helpers


def toml(value: Any) -> str:
    """``value`` in TOML (inline tables and arrays; strings as TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) and "e" not in repr(value) else f"{value:.6e}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _snapshot(folder: Path, skip: tuple[Path, ...]) -> list[tuple[str, int, int]]:
    """Every path under ``folder`` outside ``skip``, with its size and modification time."""
    found = []
    for path in folder.rglob("*"):
        if any(path == s or s in path.parents for s in skip):
            continue
        stat = path.lstat()
        found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def _check(done: Any) -> None:
    assert done.returncode in (0, 1, 2), (done.args, done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, (done.args, done.stderr[-2000:])
    if done.returncode == 2:
        errors = [line for line in done.stderr.splitlines() if line.startswith("mnist-bench:")]
        assert len(errors) == 1, (done.args, done.stderr[-2000:])


def _in_sandbox(
    parent: Path, prepare: Callable[[Path], list[list[str]]], keep: tuple[str, ...]
) -> None:
    """Run the commands ``prepare(sandbox)`` returns, in a fresh sandbox folder; check each.

    Nothing may change in the sandbox outside the folders named in ``keep``.
    """
    sandbox = Path(tempfile.mkdtemp(dir=parent))
    try:
        commands = prepare(sandbox)
        skip = tuple(sandbox / k for k in keep)
        before = _snapshot(sandbox, skip)
        for args in commands:
            _check(run_cli(*args, cwd=sandbox, timeout=300))
            assert _snapshot(sandbox, skip) == before, args
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A good digits run and its cache (features and map layout), shared by every example."""
    folder = tmp_path_factory.mktemp("warm")
    seed_layouts("digits")
    run, cache = folder / "run", folder / "cache"
    args = ["--dataset", "digits", "--extractors", "raw,pca", "--backends", "sklearn,gmm"]
    done = run_cli(
        "run", *args, "--k", "9-10", "--seeds", "0,1", "--out", str(run), "--cache-dir", str(cache)
    )
    assert done.returncode == 0, done.stderr
    return run, cache


# ---------------------------------------------------------------------------------- properties


def _config_property(warm: tuple[Path, Path], tmp_path: Path, config: dict[str, Any]) -> None:
    def prepare(sandbox: Path) -> list[list[str]]:
        (sandbox / "grid.toml").write_text(
            "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in config.items())
        )
        out, cache = str(sandbox / "out"), str(warm[1])
        return [["run", "--config", "grid.toml", "--out", out, "--cache-dir", cache]]

    _in_sandbox(tmp_path, prepare, keep=("out",))


def _flags_property(warm: tuple[Path, Path], tmp_path: Path, flags: dict[str, str]) -> None:
    base = {"--dataset": "digits", "--extractors": "raw", "--backends": "sklearn", "--k": "3"}
    base = {**base, "--seeds": "0", **flags}

    def prepare(sandbox: Path) -> list[list[str]]:
        args = [f"{flag}={value}" for flag, value in base.items()]
        return [["run", *args, "--out", str(sandbox / "out"), "--cache-dir", str(warm[1])]]

    _in_sandbox(tmp_path, prepare, keep=("out",))


def _results_property(warm: tuple[Path, Path], tmp_path: Path, mutation: tuple) -> None:
    def prepare(sandbox: Path) -> list[list[str]]:
        run = sandbox / "run"
        shutil.copytree(warm[0], run)
        path = run / words.RESULTS
        lines = path.read_text().splitlines(keepends=True)
        kind, a, b, text = mutation
        if kind == "cell":
            row = 1 + a % (len(lines) - 1)
            cells = lines[row].rstrip("\n").split(",")
            cells[b % len(cells)] = text.replace(",", ";").replace("\n", " ")
            lines[row] = ",".join(cells) + "\n"
        elif kind == "column":
            header = lines[0].rstrip("\n").split(",")
            drop = b % len(header)
            lines = [
                ",".join(c for i, c in enumerate(line.rstrip("\n").split(",")) if i != drop) + "\n"
                for line in lines
            ]
        elif kind == "truncate":
            whole = "".join(lines)
            lines = [whole[: a % (len(whole) + 1)]]
        else:  # a line of text inserted
            lines.insert(a % (len(lines) + 1), text + "\n")
        path.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
        cache = ["--cache-dir", str(warm[1])]
        return [["report", str(run), *cache], ["compare", str(warm[0]), str(run)]]

    _in_sandbox(tmp_path, prepare, keep=("run",))


MUTATIONS = st.tuples(
    st.sampled_from(["cell", "cell", "cell", "column", "truncate", "line"]),
    st.integers(0, 10_000),
    st.integers(0, 100),
    _cell_text(),
)
FLAG_SETS = st.dictionaries(st.sampled_from(FLAGS), FLAG_VALUES, min_size=1, max_size=2)


@pytest.mark.ci
@settings(max_examples=FAST, derandomize=True, **SETTINGS)
@given(config=CONFIGS)
def test_generated_configs(warm: tuple[Path, Path], tmp_path: Path, config: dict) -> None:
    _config_property(warm, tmp_path, config)


@pytest.mark.ci
@settings(max_examples=FAST, derandomize=True, **SETTINGS)
@given(flags=FLAG_SETS)
def test_generated_flags(warm: tuple[Path, Path], tmp_path: Path, flags: dict) -> None:
    _flags_property(warm, tmp_path, flags)


@pytest.mark.ci
@settings(max_examples=FAST, derandomize=True, **SETTINGS)
@given(mutation=MUTATIONS)
def test_mutated_results(warm: tuple[Path, Path], tmp_path: Path, mutation: tuple) -> None:
    _results_property(warm, tmp_path, mutation)


@pytest.mark.slow
@settings(max_examples=MANY, **SETTINGS)
@given(config=CONFIGS, flags=FLAG_SETS, mutation=MUTATIONS)
def test_many_generated_inputs(
    warm: tuple[Path, Path], tmp_path: Path, config: dict, flags: dict, mutation: tuple
) -> None:
    _config_property(warm, tmp_path, config)
    _flags_property(warm, tmp_path, flags)
    _results_property(warm, tmp_path, mutation)


def test_the_toml_writer_round_trips() -> None:
    import tomllib

    value = {"a": [1, 'x"y\\z\t', True], "b": {"c": 1.5, "d": "é"}, "e": -3}
    text = "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in value.items())
    assert tomllib.loads(text) == value
    assert os.sep == "/"  # the traversal strings above assume POSIX paths

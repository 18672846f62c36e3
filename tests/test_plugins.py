"""An outside plug-in distribution (tests/data/example_plugin), installed into a temporary folder,
is listed and runs in a grid through its entry points, without any edit inside this repository."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli, seed_layouts

PLUGIN_SRC = Path(__file__).parent / "data" / "example_plugin"
DIST = "mnist-bench-example-plugin"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables under which the example plug-in is installed (once per module)."""
    pytest.importorskip("setuptools", reason="building the example plug-in needs setuptools")
    base = tmp_path_factory.mktemp("plugin")
    # build from a copy: pip builds in the source tree and would leave build/ and *.egg-info
    src = shutil.copytree(PLUGIN_SRC, base / "src")
    target = base / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip, "--no-index", "--disable-pip-version-check", "--target", str(target), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "mnist_bench_example" / "downsample.py").is_file()
    # importlib.metadata finds the plug-in's dist-info (and its entry points) on sys.path
    path = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


def test_list_shows_the_plugins(plugin_env: dict[str, str]) -> None:
    done = run_cli("list", env=plugin_env)
    assert done.returncode == 0, done.stderr
    for name in ("downsample", "example-minibatch"):
        assert re.search(rf"^\s+{name}\b", done.stdout, re.M), done.stdout
    # The list format is being changed to show each plug-in's source distribution: only assert
    # that the distribution's name appears somewhere in the output.
    assert DIST in done.stdout, done.stdout


def test_list_does_not_import_the_plugins(plugin_env: dict[str, str]) -> None:
    # PYTHONPROFILEIMPORTTIME=1 is `python -X importtime`: every import is logged on stderr
    done = run_cli("list", env={**plugin_env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert "import time:" in done.stderr
    imported = re.findall(r"\|\s*(mnist_bench_example\.\w+)\s*$", done.stderr, re.M)
    assert imported == [], imported


def test_run_a_grid_with_the_plugins(plugin_env: dict[str, str], tmp_path: Path) -> None:
    seed_layouts("digits")  # the map of the run, laid out in this process
    out = tmp_path / "out"
    done = run_cli(
        "run",
        "--dataset",
        "digits",
        "--features",
        "downsample,raw",
        "--backends",
        "example-minibatch,sklearn",
        "--k",
        "3",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        env=plugin_env,
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out / "results.csv")
    assert {"downsample", "raw"} <= set(frame["extractor"])
    assert {"example-minibatch", "sklearn"} <= set(frame["backend"])
    mine = frame[(frame["extractor"] == "downsample") & (frame["backend"] == "example-minibatch")]
    assert len(mine) > 0
    assert all(math.isfinite(p) and 0 < p <= 1 for p in mine["purity"])
    # digits are 8x8: pooled by the default factor 2, 16 features
    assert set(frame.loc[frame["extractor"] == "downsample", "feature_dim"]) == {16}

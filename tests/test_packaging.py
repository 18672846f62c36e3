"""What gets installed: one top-level package, ``mnist_bench``, with its plug-ins registered."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

#: What a wheel is built from (the rest of the repository is not part of the package).
SOURCES = ["pyproject.toml", "README.md", "benchmarks", "features", "clustering"]


def test_wheel_installs_a_single_top_level_package(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so the build leaves no build/ or egg-info in the checkout
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "--quiet", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        (top_level,) = [n for n in names if n.endswith("top_level.txt")]
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        assert zf.read(top_level).decode().split() == ["mnist_bench"]
        groups = zf.read(entry_points).decode()
    assert tops == {"mnist_bench"}
    for package in ("core", "data", "grid", "reporting", "features", "clustering", "configs"):
        assert any(n.startswith(f"mnist_bench/{package}/") for n in names), package
    # every module of every package in the source tree is in the wheel (a package missing from
    # pyproject's list would import in a checkout and fail where the wheel is installed)
    homes = {"benchmarks": "mnist_bench", "features": "mnist_bench/features"}
    homes["clustering"] = "mnist_bench/clustering"
    for folder, home in homes.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            for module in init.parent.glob("*.py"):
                inside = module.relative_to(ROOT / folder).as_posix()
                assert f"{home}/{inside}" in names, inside
    assert not any("test_" in n for n in names)  # the pytest-benchmark stages are not installed
    for group in ("mnist_bench.datasets", "mnist_bench.extractors", "mnist_bench.backends"):
        assert f"[{group}]" in groups

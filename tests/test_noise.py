"""The native libraries' known noise on stderr is filtered out; everything else passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PROBE = r"""
import os, sys
from mnist_bench.core.system import native_noise_filtered
with native_noise_filtered():
    os.write(2, b"I0000 00:00:1796667371.028285    3131 port.cc:153] "
                b"oneDNN custom operations are on. You may see\n")
    os.write(2, b"E0000 00:00:1.1 9 node_def_util.cc:682] NodeDef mentions attribute "
                b"use_unbounded_threadpool which is not in the op definition\n")
    os.write(2, b"E0000 00:00:1.1 9 node_def_util.cc:682] a real error of the same library\n")
    print("a line of the suite's own", file=sys.stderr)
    os.write(2, b"no newline at the end")
print("after the block", file=sys.stderr)
"""


def test_known_noise_is_dropped_and_the_rest_passes_in_order() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "E0000 00:00:1.1 9 node_def_util.cc:682] a real error of the same library",
        "a line of the suite's own",
        "no newline at the endafter the block",
    ]


def test_training_a_network_prints_the_suites_lines_only(cli, tmp_path: Path) -> None:
    done = cli(
        "export", "--extractor", "lenet", "--limit", "600", "--out", str(tmp_path / "f.npz"),
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "lenet: training on" in done.stderr
    noise = [line for line in done.stderr.splitlines() if line[:1] in "IWE" and line[1:5].isdigit()]
    assert noise == [], noise

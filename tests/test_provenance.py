"""Where no git checkout is (the Docker image), a run names the commit the image was built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_bench.grid import environment


def test_without_a_checkout_the_build_commit_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environment, "ROOT", tmp_path)  # not a git checkout
    monkeypatch.setenv("MNIST_BENCH_GIT_COMMIT", "0123456789abcdef")
    monkeypatch.setenv("MNIST_BENCH_GIT_DIRTY", "false")
    assert environment.git_state() == {
        "commit": "0123456789abcdef",
        "dirty": False,
        "from": "image",
    }
    monkeypatch.setenv("MNIST_BENCH_GIT_COMMIT", "unknown")
    assert environment.git_state() == {"commit": None, "dirty": None}


def test_a_checkout_reports_its_own_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_BENCH_GIT_COMMIT", "not-this-one")
    state = environment.git_state()
    assert state["commit"] != "not-this-one" and "from" not in state

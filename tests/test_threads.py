"""``threads`` reaches every extractor and backend: the thread count each library runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_bench import features
from mnist_bench.grid import config
from mnist_bench.grid.scale_config import DEFAULT_SCALE_CONFIG

CONFIGS = sorted(p for p in config.CONFIG_DIR.glob("*.toml") if p != DEFAULT_SCALE_CONFIG)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_the_grids_thread_count_reaches_every_step(path: Path) -> None:
    cfg = config.load(path, {"threads": 1})
    for name in cfg.extractors:
        for step, params in cfg.steps(name):
            if "threads" in features.make(step).get_params():
                assert params["threads"] == 1, (path.name, name, step)


def test_a_steps_own_count_wins() -> None:
    cfg = config.load(None, {"threads": 1, "extractors": ["pca"]})
    cfg.extractors["pca"] = {"threads": 2}
    assert cfg.steps("pca") == [("pca", {"threads": 2})]


def test_pca_runs_blas_on_the_grids_threads(monkeypatch, tmp_path: Path) -> None:
    from mnist_bench.core.cache import Cache
    from mnist_bench.data.datasets import load
    from mnist_bench.features import pca
    from mnist_bench.grid.extraction import extract

    limits = []
    real = pca.threadpool_limits

    def spy(limits_: int, **kwargs):
        limits.append(limits_)
        return real(limits=limits_, **kwargs)

    monkeypatch.setattr(pca, "threadpool_limits", lambda limits, **kw: spy(limits, **kw))
    cfg = config.load(None, {"threads": 1, "extractors": ["pca"], "dataset": "digits"})
    cfg.extractors["pca"] = {"n_components": 5}
    extract(load("digits"), cfg.steps("pca"), Cache(tmp_path))
    assert limits and set(limits) == {1}


def test_threads_1_trains_tensorflow_on_one_thread(cli, tmp_path: Path) -> None:
    """In a fresh process (TensorFlow takes its thread count once): the training says it."""
    toml = tmp_path / "one.toml"
    toml.write_text("threads = 1\nlimit = 600\n[extractors.lenet]\nepochs = 1\n")
    out = tmp_path / "lenet.npz"
    done = cli(
        "export", "--extractor", "lenet", "--config", str(toml), "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "batch 128, 1 thread(s), seed 0" in done.stderr

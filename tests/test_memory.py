"""A grid that cannot fit in memory is refused before it starts, in one line (issue 13)."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_bench import clustering, features
from mnist_bench.cli import main
from mnist_bench.clustering.sklearn_kmeans import SklearnKMeans
from mnist_bench.core import memory
from mnist_bench.core.cache import Cache
from mnist_bench.core.memory import Available
from mnist_bench.data import datasets
from mnist_bench.grid import budget, config

REFUSAL = re.compile(
    r"mnist-bench: error: .+ needs about [\d.e+-]+ GB, [\d.e+-]+ GB is available; use .+"
)
RUN = ["run", "--features", "raw", "--backends", "sklearn", "--k", "10", "--seeds", "0"]


def test_sizes_and_their_display() -> None:
    assert memory.parse_size("2G") == 2 * 2**30
    assert memory.parse_size("512M") == 512 * 2**20
    assert memory.parse_size("1.5GiB") == int(1.5 * 2**30)
    assert memory.parse_size(" 100000 ") == 100000
    with pytest.raises(memory.UserError, match="MNIST_BENCH_MEMORY_LIMIT"):
        memory.parse_size("lots")
    assert memory.gb(7.7e8) == "0.77"
    assert memory.gb(2.345e9) == "2.3"


def test_available_is_the_least_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "machine", lambda: 8 * 2**30)
    monkeypatch.setattr(memory, "CGROUP", tmp_path)  # a cgroup v2 root with a limit
    monkeypatch.setattr(memory, "_cgroup_dirs", lambda controller: [tmp_path])
    (tmp_path / "memory.max").write_text(f"{4 * 2**30}\n")
    (tmp_path / "memory.current").write_text(f"{2**30}\n")
    monkeypatch.delenv(memory.ENV, raising=False)
    assert memory.available() == Available(3 * 2**30, "cgroup memory limit")
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.available() == Available(8 * 2**30, "available memory")
    monkeypatch.setenv(memory.ENV, "1G")
    assert memory.available() == Available(2**30, f"${memory.ENV}")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2**30 + 2**20, 2**40))
    found = memory.available()
    assert found.source == "address-space limit (RLIMIT_AS)" and found.bytes < 2**30


def test_estimates_grow_with_the_data_and_follow_the_libraries() -> None:
    n, d, k = 70000, 784, 10
    rows = n * d * 4
    sklearn = clustering.make("sklearn", n_clusters=k).memory_bytes(n, d, k)
    faiss = clustering.make("faiss", n_clusters=k).memory_bytes(n, d, k)
    gmm = clustering.make("gmm", n_clusters=k).memory_bytes(n, 10, k)
    assert sklearn >= 2 * rows  # KMeans copies and centres the rows
    assert faiss < rows / 10  # FAISS does not copy them
    assert clustering.make("gmm").memory_bytes(n, 10, 40) > gmm > 0
    for name in ("sklearn", "faiss", "gmm"):
        model = clustering.make(name, n_clusters=k)
        assert model.memory_bytes(2 * n, d, k) > model.memory_bytes(n, d, k)


def test_extractors_know_their_width_before_fitting() -> None:
    ds = datasets.load("digits")
    shape = ds.images.shape[1:]
    cheap = (("raw", {}), ("hog", {"pixels_per_cell": 2}), ("pca", {"n_components": 5}))
    for name, params in cheap:
        extractor = features.make(name, **params)
        expected = extractor.fit(ds.images).transform(ds.images[:3]).shape[1]
        assert extractor.feature_dim(shape) == expected, name
        assert extractor.memory_bytes(len(ds), shape) >= 0
    mnist = (28, 28)
    assert features.make("hog").feature_dim(mnist) == 324
    assert features.make("umap", n_components=7).feature_dim(mnist) == 7
    assert features.make("lenet").feature_dim(mnist) == 10
    assert features.make("lenet", layer="dense").feature_dim(mnist) == 500
    assert features.make("convnet").feature_dim(mnist) == 128
    assert features.make("autoencoder", code_dim=12).feature_dim(mnist) == 12
    assert features.make("umap").memory_bytes(70000, mnist) > 2**30  # its neighbour graph


def test_the_autoencoder_counts_its_network(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Its weights (with gradients and Adam's moments) and a batch's activations: a network
    far too wide for the machine is refused before TensorFlow runs out of memory."""
    mnist, n = (28, 28), 70000
    small = features.make("autoencoder", hidden=[256, 256, 1024])
    default = features.make("autoencoder")  # 784-500-500-2000-10: 3.3 million weights
    assert default.memory_bytes(n, mnist) - small.memory_bytes(n, mnist) > 16 * 2_000_000
    wide = features.make("autoencoder", hidden=[3_000_000_000])
    assert wide.memory_bytes(n, mnist) > 16 * 2 * 784 * 3_000_000_000
    toml = tmp_path / "wide.toml"
    toml.write_text(
        'dataset = "digits"\nk = "3"\nseeds = [0]\n[backends.sklearn]\n'
        "[extractors.autoencoder]\nhidden = [3000000000]\n"
    )
    out = tmp_path / "out"
    assert (
        main(["run", "--config", str(toml), "--out", str(out), "--cache-dir", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "extractor 'autoencoder' on 1,797 images needs about" in err[0], err
    assert not out.exists()


def test_a_grid_that_does_not_fit_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(budget, "available", lambda: Available(10**6, "test"))
    out = tmp_path / "out"
    argv = [*RUN, "--dataset", "digits", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and REFUSAL.fullmatch(err[0]), err
    assert "raw × sklearn on 1,797 images (split all, k = 10)" in err[0]
    assert not out.exists()  # nothing written, not even the folder


def test_the_limit_suggested_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(
        None, {"dataset": "digits", "extractors": ["raw"], "backends": ["sklearn"], "k": [10]}
    )
    ds = datasets.load("digits")
    cache = Cache(tmp_path)
    splits = {"raw": ["all"]}
    need = max(n.bytes for n in budget.check(cfg, ds, cache, splits))
    monkeypatch.setattr(budget, "available", lambda: Available(int(need * 0.6), "test"))
    with pytest.raises(memory.UserError) as refused:
        budget.check(cfg, ds, cache, splits)
    limit = int(re.search(r"--limit (\d+)", str(refused.value))[1])  # type: ignore[index]
    assert 100 <= limit < len(ds)
    budget.check(cfg, ds.subset(limit), cache, splits)  # fits: no error


def test_a_memory_error_in_a_fit_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def no_memory(self: SklearnKMeans, X: np.ndarray) -> None:
        raise MemoryError("Unable to allocate 1.00 TiB")

    monkeypatch.setattr(SklearnKMeans, "_fit", no_memory)
    out = tmp_path / "out"
    argv = [*RUN, "--dataset", "digits", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
    assert "Traceback" not in "\n".join(err) and err[-1].startswith("mnist-bench: error:"), err
    assert re.fullmatch(
        r"mnist-bench: error: raw × sklearn on 1,797 images \(split all, k = 10, seed 0\) ran "
        r"out of memory \([\d.e+-]+ GB is available now\); use the dask backend or --limit \d+",
        err[-1],
    )
    assert not (out / "results.csv").exists()


VMPEAK = """
import sys
from mnist_bench.cli import main
rc = main(sys.argv[1:])
print(next(l for l in open("/proc/self/status") if l.startswith("VmPeak")).split()[1])
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_refused_under_an_address_space_limit(tmp_path: Path) -> None:
    """A real limit: RLIMIT_AS a little above what the imports and the data take.

    The address space the run takes up to the check is measured first (in a run refused by
    ``$MNIST_BENCH_MEMORY_LIMIT``); 250 MB more lets the imports and MNIST load but not the
    fit (k-means on 70,000 x 784 pixels: about 0.8 GB).
    """
    argv = [*RUN, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "MNIST_BENCH_MEMORY_LIMIT": "1"}
    probe = subprocess.run(
        [sys.executable, "-c", VMPEAK, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert "needs about" in probe.stderr, probe.stderr
    limit = (int(probe.stdout.split()[-1]) + 250 * 1024) * 1024
    del env["MNIST_BENCH_MEMORY_LIMIT"]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "mnist_bench", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=cap,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert REFUSAL.fullmatch(lines[0]) and "raw × sklearn on 70,000 images" in lines[0]
    assert not (tmp_path / "out").exists()

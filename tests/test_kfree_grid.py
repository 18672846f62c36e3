"""The grid with backends beyond k-means: what the plan runs for each kind of backend, and a run
whose rows, scores and report say how many clusters a backend found and what it left as noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import no_pictures

from mnist_bench.analyses.scores import scores
from mnist_bench.grid import config
from mnist_bench.grid.plan import plan

GRID = {
    "dataset": "digits",
    "extractors": {"pca": {"n_components": 10}},
    "backends": {
        "sklearn": {},
        "hdbscan": {"min_cluster_size": 40, "min_samples": 10},
        "ward": {},
        "spectral": {},
    },
    "k": "2-4",
    "eval_k": 3,
    "seeds": [0, 1],
}


def test_each_kind_of_backend_gets_the_jobs_it_needs() -> None:
    jobs = plan(config.from_mapping(GRID), {"pca": False})
    by = {b: [(j.k, j.seed, j.in_sweep) for j in jobs if j.backend == b] for b in GRID["backends"]}
    # k-means: the sweep on the first seed, eval_k on the other
    assert by["sklearn"] == [(2, 0, True), (3, 0, True), (4, 0, True), (3, 1, False)]
    # chooses its own k, and the seed changes nothing: one job, no k
    assert by["hdbscan"] == [(None, 0, False)]
    # the seed changes nothing, each k a new costly fit: eval_k once
    assert by["ward"] == [(3, 0, False)]
    # seeded, but no sweep: eval_k on every seed
    assert by["spectral"] == [(3, 0, False), (3, 1, False)]
    assert all(j.eval_k for j in jobs if not j.in_sweep)


def test_a_run_records_the_clusters_found_and_the_noise(tmp_path: Path) -> None:
    from mnist_bench.cli import main

    path = tmp_path / "grid.toml"
    path.write_text(
        'dataset = "digits"\nk = "2-10"\neval_k = 10\nseeds = [0]\n'
        "[extractors.pca]\nn_components = 10\n[backends.sklearn]\n"
        "[backends.hdbscan]\nmin_cluster_size = 40\nmin_samples = 10\n[backends.ward]\n"
    )
    out = tmp_path / "run"
    args = ["run", "--config", str(path), "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    with no_pictures():
        assert main(args) == 0
    frame = pd.read_csv(out / "results.csv", float_precision="round_trip")  # every bit
    (free,) = frame[frame.backend == "hdbscan"].itertuples()
    assert free.chose_k and free.k == free.clusters >= 2 and 0 < free.noise < 1
    assert free.eval_k and not free.in_sweep
    # the scores are those of its labels file, noise counted as the row says
    with np.load(out / "labels" / f"all-pca-hdbscan-k{free.k}-seed0.npz") as npz:
        labels, index = npz["labels"], npz["index"]
    from mnist_bench.data import datasets

    y = datasets.load("digits").labels[index]
    again = scores(y, labels)
    assert (labels == -1).mean() == free.noise
    for name in ("acc", "nmi", "ari", "acc_clustered", "nmi_clustered", "ari_clustered"):
        assert again[name] == getattr(free, name), name
    assert not frame[frame.backend != "hdbscan"].chose_k.any()
    assert (frame[frame.backend == "ward"].k == 10).all()
    report = (out / "REPORT.md").read_text()
    assert "## Backends that choose their own number of clusters" in report
    assert f"({free.clusters} clusters, {free.noise:.1%} noise)" in report
    assert "## Accuracy against time" in report and (out / "pareto_all.png").is_file()

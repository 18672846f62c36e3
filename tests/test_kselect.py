"""Choosing k without labels: the scores on a seeded sample, the picks table, plot, dendrograms."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import no_pictures, run_toml_in_process
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from mnist_bench import features
from mnist_bench.analyses.kselect import report as report_kselect
from mnist_bench.analyses.kselect import sample
from mnist_bench.core import vocabulary as words
from mnist_bench.data.datasets import load
from mnist_bench.reporting.report import render


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = load("digits")
    return features.make("raw").fit(ds.images).transform(ds.images), ds.labels


def test_sample_is_seeded_sorted_and_capped() -> None:
    index = sample.sample_index(70_000)
    assert len(index) == sample.SAMPLE_SIZE == 10_000 and len(np.unique(index)) == len(index)
    assert (np.diff(index) > 0).all() and index[-1] < 70_000
    np.testing.assert_array_equal(index, sample.sample_index(70_000))
    np.testing.assert_array_equal(sample.sample_index(500), np.arange(500))


@pytest.mark.parametrize("k", [2, 10, 14])
def test_scores_equal_sklearns_on_the_sample(digits: tuple[np.ndarray, np.ndarray], k: int) -> None:
    X, _ = digits
    labels = KMeans(k, n_init=1, random_state=0).fit(X).labels_
    scores = sample.SampleScores(X, threads=2, size=1000)
    got = scores(labels)
    rows, part = X[scores.index], labels[scores.index]
    distances = scores.distances()
    assert distances.shape == (1000, 1000) and not distances.diagonal().any()
    expected = silhouette_score(distances, part, metric="precomputed")
    assert got["silhouette"] == pytest.approx(expected, rel=1e-6)
    assert got["silhouette"] == pytest.approx(silhouette_score(rows, part), rel=1e-5)
    assert got["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(rows, part), rel=1e-6)
    assert got["davies_bouldin"] == pytest.approx(davies_bouldin_score(rows, part), rel=1e-5)
    assert scores.distances() is distances  # computed once, reused


def test_distances_are_sklearns(digits: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import pairwise_distances

    X = digits[0][:500]
    distances = sample.sample_distances(X)
    assert distances.dtype == np.float32 and not distances.diagonal().any()
    np.testing.assert_allclose(distances, pairwise_distances(X), atol=1e-4)


def test_edge_cases_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((40, 3), dtype=np.float32)
    D = sample.sample_distances(X)
    one = np.zeros(40, dtype=int)
    assert math.isnan(sample.silhouette(D, one))
    assert all(math.isnan(v) for v in sample.calinski_harabasz_davies_bouldin(X, one))
    singleton = np.r_[np.zeros(39, dtype=int), 7]  # a cluster of one point, label 7
    assert sample.silhouette(D, singleton) == pytest.approx(
        silhouette_score(D, singleton, metric="precomputed"), rel=1e-6
    )


def test_a_sweep_scored_together_equals_one_at_a_time(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    """``many`` (one product for all the labelings) gives each labeling's own scores, edge
    cases (one cluster: NaN) included; its speed is a stage of ``tox -e stages``."""
    X, _ = digits
    scores = sample.SampleScores(X, threads=1, size=1000)
    sweep = [KMeans(k, n_init=1, random_state=0).fit(X).labels_ for k in (1, 2, 5, 14)]
    together = scores.many(sweep)
    for labels, got in zip(sweep, together, strict=True):
        alone = scores(labels)
        assert got.keys() == alone.keys()
        for name, value in got.items():
            assert value == pytest.approx(alone[name], rel=1e-6, nan_ok=True)
    assert math.isnan(together[0]["silhouette"]) and np.isfinite(together[-1]["silhouette"])
    assert scores.many([]) == []


def test_picks_and_the_mark_on_10() -> None:
    ks = list(range(1, 15))
    sweep = pd.DataFrame(
        {
            "k": ks,
            "wcss": [100 / k for k in ks],
            "silhouette": [math.nan] + [-abs(k - 10) for k in ks[1:]],
            "calinski_harabasz": [math.nan] + [-abs(k - 3) for k in ks[1:]],
            "davies_bouldin": [math.nan] + [abs(k - 10) for k in ks[1:]],
            "bic": [math.nan] * 14,
        }
    )
    chosen = report_kselect.picks(sweep.sample(frac=1.0, random_state=0))  # any row order
    assert chosen["silhouette"] == 10 and chosen["calinski_harabasz"] == 3
    assert chosen["davies_bouldin"] == 10 and chosen["bic"] is None
    assert isinstance(chosen["knee"], int)


GRID = """
dataset = "digits"
k = "1-11"
seeds = [0, 1]
threads = 1
[extractors.raw]
[extractors.pca]
n_components = 10
[backends.sklearn]
[backends.faiss]
[backends.gmm]
covariance_type = "diag"
[backend_extractors]
gmm = ["pca"]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_toml_in_process(tmp_path_factory.mktemp("kselect"), GRID)


def test_sweep_rows_carry_the_scores(run: Path) -> None:
    frame = pd.read_csv(run / words.RESULTS)
    sweep, rest = frame[frame.in_sweep], frame[~frame.in_sweep]
    assert len(sweep) == 11 * 5 and len(rest) == 5  # 5 cells; k = 10 on seed 1
    scored = sweep[sweep.k >= 2]
    for score in ("silhouette", "calinski_harabasz", "davies_bouldin"):
        assert scored[score].notna().all() and sweep[sweep.k == 1][score].isna().all(), score
        assert rest[score].isna().all()
    assert scored["silhouette"].between(-1, 1).all()
    gmm = frame.backend == "gmm"
    assert frame.loc[gmm, "bic"].notna().all() and frame.loc[~gmm, "bic"].isna().all()
    # the same sample for every backend: equal labels give equal scores
    ds, index = load("digits"), sample.sample_index(1797)
    X = features.make("raw").fit(ds.images).transform(ds.images)
    labels = np.load(run / words.labels_file("all", "raw", "sklearn", 10, 0))["labels"]
    row = frame[(frame.extractor == "raw") & (frame.backend == "sklearn") & (frame.k == 10)]
    expected = silhouette_score(X[index], labels[index])
    assert row[row.seed == 0]["silhouette"].iloc[0] == pytest.approx(expected, rel=1e-5)


def test_report_gives_the_picks_table_plot_and_dendrograms(run: Path) -> None:
    report = (run / words.REPORT).read_text()
    section = report.split("## Choosing k without labels")[1].split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    headers = [c.strip() for c in table[0].split("|")[1:-1]]
    assert headers == [
        "cell",
        "elbow knee",
        "silhouette",
        "Calinski-Harabasz",
        "Davies-Bouldin",
        "BIC",
        "picks of 10",
    ]
    cells = {row.split("|")[1].strip(): row for row in table[1:]}
    assert set(cells) == {
        "raw × sklearn",
        "raw × faiss",
        "pca × sklearn",
        "pca × faiss",
        "pca × gmm",
    }
    frame = pd.read_csv(run / words.RESULTS)
    for label, line in cells.items():
        extractor, backend = label.split(" × ")
        group = frame[(frame.extractor == extractor) & (frame.backend == backend) & frame.in_sweep]
        chosen = report_kselect.picks(group)
        marks = [c.strip() for c in line.split("|")[2:-2]]
        assert marks == [report_kselect._cell(chosen[m]) for m in report_kselect.METHODS]
        assert ("**10**" in line) == (10 in chosen.values())
    assert re.search(r"sample of 1,797 of the 1,797 points", section)
    assert (run / words.kselect_file("all")).is_file()
    assert f"]({words.kselect_file('all')})" in section
    for extractor in ("raw", "pca"):
        picture = words.dendrogram_file("all", extractor)
        assert (run / picture).is_file() and f"]({picture})" in section
        with np.load(run / words.linkage_file("all", extractor)) as data:
            assert data["linkage"].shape == (1796, 4)  # the whole digits set (under 2,000)


def test_results_without_the_new_columns_render_without_the_new_sections(
    run: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(run / words.ENVIRONMENT, old / words.ENVIRONMENT)
    frame = pd.read_csv(run / words.RESULTS)
    frame.drop(columns=["s_per_iter", "init", *words.K_SCORES]).to_csv(
        old / words.RESULTS, index=False
    )
    with no_pictures():
        report = render(old).read_text()
    assert "## Elbow" in report
    for title in ("Choosing k", "memory floor", "Library against library"):
        assert title not in report
    assert not (old / words.kselect_file("all")).exists()

"""Where the time goes (issue 13): the suite's own work is measured, recorded and rendered, and
the faster ways it now does that work give the same values bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from mnist_bench.analyses.scores import contingency, scores, wcss
from mnist_bench.analyses.time import timeshare
from mnist_bench.analyses.time.benchmark import benchmark_json
from mnist_bench.analyses.time.clock import LIBRARY, SUITE, Clock, process_age
from mnist_bench.analyses.time.clock import timeshare as timeshare_of
from mnist_bench.core.vocabulary import (
    BENCHMARK,
    COLUMNS,
    METRICS,
    REPORT,
    RESULTS,
    TIMES,
    TIMESHARE,
)


def _wcss_before(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """WCSS as the suite computed it before issue 13 (the values must not change)."""
    total = 0.0
    for start in range(0, len(X), 16384):
        diff = X[start : start + 16384].astype(np.float64) - centers[labels[start : start + 16384]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


@pytest.mark.parametrize(
    ("n", "d", "k"), [(1, 3, 1), (700, 5, 3), (16384, 7, 4), (16385, 64, 10), (40000, 784, 14)]
)
def test_wcss_is_bit_for_bit_the_same(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n)
    scale = rng.choice([1e-3, 1.0, 1e4], size=(n, 1))
    X = (rng.standard_normal((n, d)) * scale).astype(np.float32)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    labels = rng.integers(0, k, n)
    assert wcss(X, labels, centers) == _wcss_before(X, labels, centers)
    assert wcss(X[: n // 2 + 1], labels[: n // 2 + 1], centers) == _wcss_before(
        X[: n // 2 + 1], labels[: n // 2 + 1], centers
    )  # another shape after the kept buffer


def _scores_before(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    table = contingency_matrix(y, p)
    sizes = table.sum(axis=0)
    keep = sizes > 0
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(table, maximize=True)
    return {
        "purity": float(table.max(axis=0).sum() / table.sum()),
        "macro_purity": float(np.mean(table.max(axis=0)[keep] / sizes[keep])),
        "acc": float(table[rows, cols].sum() / table.sum()),
        "nmi": float(normalized_mutual_info_score(y, p)),
        "ari": float(adjusted_rand_score(y, p)),
    }


def test_scores_are_scikit_learns_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    cases = []
    for i in range(400):
        n = int(rng.integers(1, 200))
        y = rng.integers(0, int(rng.integers(1, 11)), n) * int(rng.choice([1, 7]))
        p = rng.integers(0, int(rng.integers(1, 15)), n)
        if i % 5 == 0:
            p = y.copy()  # perfect
        if i % 7 == 0:
            p = np.zeros(n, dtype=np.int64)  # one cluster
        if i % 9 == 0:
            y = np.zeros(n, dtype=np.int64)  # one class
        cases.append((y, p))
    y = rng.integers(0, 10, 70000)
    cases.append((y, np.where(rng.random(70000) < 0.7, y, rng.integers(0, 14, 70000))))
    cases.append((y.astype(np.int16), rng.integers(0, 10, 70000).astype(np.int32)))
    cases.append((np.array([-3, 5, 5, 9]), np.array([2, 2, -2, 0])))  # the general path
    for y, p in cases:
        found = scores(y, p)
        assert {m: found[m] for m in METRICS} == _scores_before(y, p)
        assert np.array_equal(contingency(y, p), contingency_matrix(y, p))


def test_clock_sums_stages_and_records_the_rest_as_other() -> None:
    clock = Clock()
    clock.add("fit: sklearn", 2.0, LIBRARY)
    clock.add("WCSS, scores and objective", 0.5)
    clock.add("fit: sklearn", 1.0, LIBRARY)
    clock.add("start-up", 0.25, note="imports")
    with clock.stage("load data"):
        pass
    record = clock.timeshare(wall_s=4.0)
    names = [s["stage"] for s in record["stages"]]
    # in the order of the stages of a run, whatever the order they were measured in
    assert names == ["start-up", "load data", "fit: sklearn", "WCSS, scores and objective", "other"]
    fit = record["stages"][2]
    assert (fit["library_s"], fit["suite_s"]) == (3.0, 0.0)
    assert record["stages"][-1]["suite_s"] == pytest.approx(4.0 - 3.75, abs=0.01)
    assert record["stages"][0]["note"] == "imports"
    with pytest.raises(ValueError):
        clock.add("x", 1.0, "elsewhere")
    assert clock.total(SUITE) >= 0.75
    age = process_age()
    assert age is None or 0 < age < 24 * 3600


def _frame(own: bool) -> pd.DataFrame:
    rows = [
        {
            "backend": backend,
            "fit_s": 2.0,
            "predict_s": 0.5,
            **({"own_s": 0.25} if own else {}),
        }
        for backend in ("sklearn", "faiss", "sklearn")
    ]
    return pd.DataFrame(rows)


def test_section_from_a_record(tmp_path: Path) -> None:
    clock = Clock()
    clock.add("start-up", 1.0)
    clock.add("fit: sklearn", 8.0, LIBRARY)
    clock.add("pictures", 0.5)
    (tmp_path / TIMESHARE).write_text(json.dumps(clock.timeshare(wall_s=10.0)))
    text = "\n".join(timeshare.section(tmp_path, _frame(own=True)))
    assert text.startswith(timeshare.TITLE)
    assert "| fit: sklearn " in text and "| pictures " in text and "| other " in text
    # 1 + 0.5 + 0.5 (other) of 10 s: the suite's share
    assert "the whole command took 10.0 s, 2.0 s of them (20.0%) the suite's own work" in text
    # the grid: neither start-up, pictures, report nor other
    assert "the grid alone (from loading the data to writing results.csv) 8.0 s, 0.0% of it" in text


def test_section_from_rows_alone_and_none_without_them(tmp_path: Path) -> None:
    text = "\n".join(timeshare.section(tmp_path, _frame(own=True)))
    assert "no `timeshare.json`" in text
    assert "| rows: WCSS, scores, label files | –" in text
    assert "| fit: sklearn " in text and "| predict: faiss " in text
    # a run from before own_s (the committed reference): no section at all
    assert timeshare.section(tmp_path, _frame(own=False)) == []
    (tmp_path / TIMESHARE).write_text("{not json")
    assert timeshare.section(tmp_path, _frame(own=False)) == []


def test_refresh_rewrites_only_the_section(tmp_path: Path) -> None:
    clock = Clock()
    clock.add("fit: faiss", 3.0, LIBRARY)
    (tmp_path / TIMESHARE).write_text(json.dumps(clock.timeshare()))
    before = ["# report", "", *timeshare.section(tmp_path, _frame(True)), "## Next", "tail", ""]
    (tmp_path / REPORT).write_text("\n".join(before))
    clock.add("report", 1.0)
    (tmp_path / TIMESHARE).write_text(json.dumps(clock.timeshare(wall_s=5.0)))
    timeshare.refresh(tmp_path, _frame(True))
    after = (tmp_path / REPORT).read_text()
    assert after.startswith("# report\n\n## Where the time went\n")
    assert "| report " in after and "the whole command took 5.0 s" in after
    assert after.endswith("\n\n## Next\ntail\n")


def test_a_run_records_where_its_time_went(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_bench.cli import main
    from mnist_bench.reporting import maps

    # the maps' 2-D UMAP (a minute of numba compiling) is not what this test is about
    monkeypatch.setattr(maps, "_umap_2d", lambda images, sample: np.zeros((len(sample), 2)))

    out = tmp_path / "run"
    argv = ["run", "--dataset", "digits", "--features", "raw", "--backends", "sklearn"]
    argv += ["--k", "2,10", "--seeds", "0,1", "--out", str(out), "--cache-dir", str(tmp_path)]
    assert main(argv) == 0
    frame = pd.read_csv(out / RESULTS)
    assert list(frame.columns) == list(COLUMNS)
    assert (frame["own_s"] > 0).all()
    record = json.loads((out / TIMESHARE).read_text())
    stages = {s["stage"]: s for s in record["stages"]}
    for name in ("start-up", "load data", "extract: raw", "WCSS, scores and objective"):
        assert stages[name]["suite_s"] > 0, name
    for name in ("pictures", "report", "label files", "resume journal", "other"):
        assert name in stages, name
    assert stages["fit: sklearn"]["library_s"] == pytest.approx(frame["fit_s"].sum())
    assert stages["predict: sklearn"]["library_s"] == pytest.approx(frame["predict_s"].sum())
    measured = sum(s["library_s"] + s["suite_s"] for s in record["stages"])
    assert measured == pytest.approx(record["wall_s"])
    report = (out / REPORT).read_text()
    assert "## Where the time went" in report and "| report " in report
    assert f"the whole command took {record['wall_s']:.1f} s" in report
    # one record of time: timeshare.json and benchmark.json are derived from times.json, and
    # the rows' times are the seconds of its spans
    times = json.loads((out / TIMES).read_text())
    assert timeshare_of(times) == record
    fits = [s for s in times["spans"] if s["stage"] == "fit: sklearn"]
    assert sorted((s["k"], s["seed"], s["seconds"]) for s in fits) == sorted(
        zip(frame["k"], frame["seed"], frame["fit_s"], strict=True)
    )
    bench = {b["name"]: b for b in json.loads((out / BENCHMARK).read_text())["benchmarks"]}
    assert bench["extract[raw]"]["stats"]["rounds"] == 1
    evals = frame[frame["eval_k"]]
    assert bench["fit[raw-sklearn]"]["stats"]["data"] == pytest.approx(list(evals["fit_s"]))
    assert bench["predict[raw-sklearn]"]["stats"]["data"] == pytest.approx(list(evals["predict_s"]))


def test_spans_an_interrupted_run_measured_count_in_benchmark_json_not_in_this_runs_time() -> None:
    clock = Clock()
    cell = {"split": "all", "extractor": "raw", "backend": "sklearn", "k": 10, "eval_k": True}
    with clock.about(**cell, n_samples=100):
        clock.add("fit: sklearn", 3.0, LIBRARY, seed=0, resumed=True)  # kept with its row
        clock.add("fit: sklearn", 2.0, LIBRARY, seed=1)
        clock.add("fit: sklearn", 9.0, LIBRARY, seed=2, eval_k=False)  # a sweep row
    assert clock.timeshare()["stages"] == [
        {"stage": "fit: sklearn", "library_s": 11.0, "suite_s": 0.0}
    ]
    assert clock.total(LIBRARY) == 11.0
    (fit,) = benchmark_json(clock.record(), {})["benchmarks"]
    assert fit["name"] == "fit[raw-sklearn]" and fit["group"] == "fit k=10"
    assert fit["stats"]["data"] == [3.0, 2.0]
    assert fit["extra_info"] == {"n_samples": 100, "k": 10, "seeds": 2}


def test_a_rerun_copies_its_pictures_and_layouts_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from mnist_bench.cli import main
    from mnist_bench.core.cache import Cache
    from mnist_bench.reporting import maps, pictures, visuals

    layouts = []

    def layout(images: np.ndarray, sample: np.ndarray) -> np.ndarray:
        layouts.append(len(sample))
        return np.arange(2 * len(sample), dtype=np.float32).reshape(-1, 2)

    monkeypatch.setattr(maps, "_umap_2d", layout)
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = ["run", "--dataset", "digits", "--features", "raw", "--backends", "sklearn"]
    argv += ["--k", "10", "--seeds", "0", "--out", str(out), "--cache-dir", str(cache)]
    assert main(argv) == 0
    assert layouts == [1797]
    drawn = sorted(p.relative_to(out) for p in out.glob("*/*.png"))
    assert len(drawn) == 3  # montage, heatmap, map

    again = tmp_path / "again"
    again.mkdir()
    for name in (RESULTS, "environment.json", "labels"):
        source = out / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, again / name)

    def no_drawing(*args: object, **kwargs: object) -> None:
        raise AssertionError("drawn again")

    for module, name in ((visuals, "draw_montage"), (visuals, "draw_heatmap"), (maps, "draw_map")):
        monkeypatch.setattr(module, name, no_drawing)
    pictures.draw(again, Cache(cache))
    assert layouts == [1797]  # the layout came from the cache too
    for path in drawn:
        assert (again / path).read_bytes() == (out / path).read_bytes()


def test_the_report_keeps_its_elbow_plot_while_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_bench.analyses.kselect import report
    from mnist_bench.core import plots
    from mnist_bench.core.cache import Cache

    curves = pd.DataFrame({"raw × sklearn": [9.0, 5.0, 4.0]}, index=[1, 2, 3])
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    with plots.kept_in(Cache(tmp_path / "cache")):
        report.plot_elbow(curves, {"raw × sklearn": 2}, first, "elbow")
        monkeypatch.setattr(report, "draw_elbow", lambda *args: pytest.fail("drawn again"))
        report.plot_elbow(curves, {"raw × sklearn": 2}, second, "elbow")
    assert second.read_bytes() == first.read_bytes()
    with pytest.raises(pytest.fail.Exception):  # outside the block: drawn
        report.plot_elbow(curves, {"raw × sklearn": 2}, second, "elbow")

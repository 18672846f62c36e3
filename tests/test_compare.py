"""``mnist-bench compare``: zero differences for identical runs, flags and exit status otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnist_bench.cli import main
from mnist_bench.reporting.compare import compare, exact


def grid(out: Path, cache: Path, *extra: str) -> Path:
    status = main(
        [
            "run",
            "--dataset",
            "digits",
            "--features",
            "raw",
            "--backends",
            "sklearn",
            "--k",
            "9-10",
            "--seeds",
            "0,1",
            "--threads",
            "1",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            *extra,
        ]
    )
    assert status == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    cache = root / "cache"
    return {
        "a": grid(root / "a", cache, "--eval-k", "10"),
        "b": grid(root / "b", cache, "--eval-k", "10"),
        "eval9": grid(root / "eval9", cache, "--eval-k", "9"),
        "one_seed": grid(root / "one_seed", cache, "--eval-k", "10", "--seeds", "0"),
    }


def edited(src: Path, dst: Path, edit) -> Path:
    """A copy of run ``src`` whose results.csv went through ``edit(frame) -> frame``."""
    dst.mkdir()
    shutil.copy(src / "environment.json", dst / "environment.json")
    edit(pd.read_csv(src / "results.csv")).to_csv(dst / "results.csv", index=False)
    return dst


def test_identical_runs_show_zero_differences_and_exit_0(runs: dict[str, Path], cli) -> None:
    done = cli("compare", str(runs["a"]), str(runs["b"]))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "**Result: no difference beyond tolerance** (exit status 0)" in out
    assert "every score is identical" in out
    cell_line = next(line for line in out.splitlines() if line.startswith("| raw × sklearn"))
    assert cell_line.count("(0)") == 5  # five scores, each unchanged
    tables = out.split("## Cells at eval_k")[1]
    assert "▼" not in tables and "▲" not in tables and "only in" not in tables


def test_different_eval_k_is_flagged_and_exits_1(runs: dict[str, Path], cli) -> None:
    done = cli("compare", str(runs["a"]), str(runs["eval9"]))
    assert done.returncode == 1
    assert "eval_k differs: A [10], B [9]" in done.stdout
    assert "eval_k 10 / 9" in done.stdout  # the cell's flag
    assert "eval_k differs" in done.stdout.split("## Rows")[1]  # rows at k 9 and 10 too


def test_fewer_seeds_are_flagged_and_exit_1(runs: dict[str, Path]) -> None:
    result = compare(runs["a"], runs["one_seed"])
    assert result.status == 1
    assert "seeds 0,1 / 0" in result.markdown
    assert any("only in run A" in m for m in result.mismatches)  # the seed-1 row
    assert not result.worse  # seed 0 is the same in both


def test_worse_metric_beyond_tolerance_exits_1(runs: dict[str, Path], tmp_path: Path) -> None:
    def worse_acc(frame: pd.DataFrame) -> pd.DataFrame:
        at = frame.index[frame.eval_k & (frame.seed == 1)][0]
        frame.loc[at, "acc"] -= 0.02  # the mean over 2 seeds drops by 0.01
        return frame

    b = edited(runs["a"], tmp_path / "worse", worse_acc)
    result = compare(runs["a"], b, tolerance=0.005)
    assert result.status == 1
    assert "worse: acc" in result.markdown and "-0.0100 ▼" in result.markdown
    assert "-0.0200 ▼" in result.markdown  # the row itself
    assert compare(runs["a"], b, tolerance=0.05).status == 0  # within a looser tolerance


def test_better_metric_and_slower_fit_are_flagged_but_exit_0(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    def better_slower(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.eval_k, "nmi"] += 0.01
        frame["fit_s"] = frame["fit_s"] * 3 + 1
        return frame

    result = compare(runs["a"], edited(runs["a"], tmp_path / "b", better_slower))
    assert result.status == 0, result.mismatches + result.worse
    assert "better: nmi" in result.markdown and "+0.0100 ▲" in result.markdown
    assert "fit slower ×" in result.markdown and "⚠" in result.markdown


def test_cell_in_one_run_only(runs: dict[str, Path], tmp_path: Path) -> None:
    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(backend="faiss")

    result = compare(runs["a"], edited(runs["a"], tmp_path / "b", renamed))
    assert result.status == 1
    assert "raw × sklearn, split all: only in run A" in result.mismatches
    assert "raw × faiss, split all: only in run B" in result.mismatches


def test_out_file_and_user_errors(runs: dict[str, Path], tmp_path: Path, cli) -> None:
    report = tmp_path / "diff.md"
    done = cli("compare", str(runs["a"]), str(runs["b"]), "--out", str(report))
    assert done.returncode == 0
    assert report.read_text() == done.stdout

    missing = cli("compare", str(runs["a"]), str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"mnist-bench: error: no such run folder: {tmp_path / 'nope'}"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        [str(empty), str(runs["a"])],
        [str(runs["a"]), str(runs["b"]), "--tolerance", "x"],
    ):
        done = cli("compare", *args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr


# ------------------------------------------------- the same computation, or a new draw of it


def test_runs_of_the_same_features_are_judged_exactly(runs: dict[str, Path]) -> None:
    result = compare(runs["a"], runs["b"])
    assert "all 1 common cells exactly" in result.markdown
    assert "draw:" not in result.markdown.split("## Cells at eval_k")[1]


def _other_luck(frame: pd.DataFrame) -> pd.DataFrame:
    """Seed 1's start ended worse than seed 0's (acc -0.05, WCSS +1%)."""
    at = frame.index[frame.eval_k & (frame.seed == 1)][0]
    frame.loc[at, "acc"] = frame.loc[frame.eval_k & (frame.seed == 0), "acc"].iloc[0] - 0.05
    w = frame.loc[frame.eval_k & (frame.seed == 0), "wcss"].iloc[0] * 1.01
    frame.loc[at, ["wcss", "objective_value"]] = w
    return frame


def _seeds_trade_places(frame: pd.DataFrame, digest: str | None) -> pd.DataFrame:
    """The same two outcomes drawn by the other seed (another machine's luck), with features
    of digest ``digest`` (None: the same features)."""
    frame = _other_luck(frame)
    ev = frame.index[frame.eval_k]
    columns = ["purity", "macro_purity", "acc", "nmi", "ari", "wcss", "objective_value"]
    frame.loc[ev, columns] = frame.loc[ev, columns].iloc[::-1].to_numpy()
    if digest is not None:
        frame["features_sha256"] = digest
    return frame


def test_another_machines_luck_is_judged_as_a_draw_and_exits_0(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    a = edited(runs["a"], tmp_path / "a", _other_luck)
    same = edited(runs["a"], tmp_path / "same", lambda f: _seeds_trade_places(f, None))
    other = edited(runs["a"], tmp_path / "other", lambda f: _seeds_trade_places(f, "f" * 16))
    # the same features: the same computation, so a row 0.05 worse is a real change
    assert compare(a, same).status == 1
    # other features (another CPU, no pins): each start is a new draw; the headline is judged
    drawn = compare(a, other)
    assert drawn.status == 0, drawn.worse + drawn.mismatches
    assert "draw: features differ" in drawn.markdown
    assert "1 as draws (features differ)" in drawn.markdown


def test_other_kernels_are_judged_as_draws(runs: dict[str, Path], tmp_path: Path) -> None:
    b = edited(runs["a"], tmp_path / "b", lambda f: f)
    env = json.loads((b / "environment.json").read_text())
    env["numerics"]["fingerprint"] = "native:000000000000"
    (b / "environment.json").write_text(json.dumps(env))
    result = compare(runs["a"], b)
    assert result.status == 0 and "draw: other kernels (numerics)" in result.markdown


def test_a_broken_extractor_fails_even_as_a_draw(
    runs: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    """Features that no longer belong to their images (rows shuffled): other features, so the
    cell is judged as a draw, and its headline falls below every one of A's starts."""
    from mnist_bench.features.raw import Raw

    transform = Raw._transform
    shuffled = lambda self, images: np.random.default_rng(0).permutation(transform(self, images))  # noqa: E731
    monkeypatch.setattr(Raw, "_transform", shuffled)
    b = grid(tmp_path / "b", tmp_path / "cache", "--eval-k", "10")
    result = compare(runs["a"], b)
    assert result.status == 1
    assert "draw: features differ" in result.markdown
    assert any("headline against A's seeds" in w and "acc" in w for w in result.worse)


def test_a_broken_backend_fails(runs: dict[str, Path], tmp_path: Path) -> None:
    """k-means stopped after one iteration, on the same features: judged exactly, WCSS worse."""
    toml = tmp_path / "one-iteration.toml"
    toml.write_text(
        'dataset = "digits"\nk = "9-10"\neval_k = 10\nseeds = [0, 1]\nthreads = 1\n'
        "[extractors.raw]\n[backends.sklearn]\nmax_iter = 1\n"
    )
    b = grid(tmp_path / "b", runs["a"].parent / "cache", "--config", str(toml))
    result = compare(runs["a"], b)
    assert result.status == 1
    assert "all 1 common cells exactly" in result.markdown
    assert any("wcss" in w for w in result.worse)


def test_exact_requires_every_number_bit_for_bit(
    runs: dict[str, Path], tmp_path: Path, cli
) -> None:
    done = cli("compare", "--exact", str(runs["a"]), str(runs["b"]))
    assert done.returncode == 0, done.stdout
    assert "**Result: identical**" in done.stdout and "features_sha256" in done.stdout

    def last_bit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[-1], "wcss"] = np.nextafter(frame["wcss"].iloc[-1], np.inf)
        frame["fit_s"] *= 2  # times are not numbers of the computation
        return frame

    result = exact(runs["a"], edited(runs["a"], tmp_path / "bit", last_bit))
    assert result.status == 1 and len(result.worse) == 1 and "wcss" in result.worse[0]
    assert (
        exact(runs["a"], edited(runs["a"], tmp_path / "same", lambda f: f.assign(fit_s=1.0))).status
        == 0
    )
    fewer = exact(runs["a"], runs["one_seed"])
    assert fewer.status == 1 and fewer.mismatches


def test_a_run_without_feature_digests_is_judged_as_a_draw(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """A results.csv written before the digests were recorded cannot show it clustered the same
    features: judged by its headline, so another machine's old run does not fail on its luck."""
    old = edited(runs["a"], tmp_path / "old", lambda f: f.drop(columns=["features_sha256"]))
    result = compare(old, runs["b"])
    assert result.status == 0 and "draw: features not recorded" in result.markdown

"""A cell's headline (its best-objective start) and how far it can move with the starts' luck."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mnist_bench.reporting import headline


def cell(basins: list[tuple[int, float, float]], objective: str = "wcss") -> pd.DataFrame:
    """Rows of one cell: ``(count, objective value, acc)`` per basin, seeds 0, 1, ..."""
    rows = []
    for count, value, acc in basins:
        rows += [{"objective": objective, "objective_value": value, "acc": acc}] * count
    frame = pd.DataFrame(rows)
    return frame.assign(seed=range(len(frame)), wcss=frame.objective_value)


def test_the_headline_is_the_best_objective_in_its_direction() -> None:
    wcss = cell([(1, 2.0, 0.9), (1, 1.0, 0.8)])
    assert headline.chosen(wcss)["acc"] == 0.8  # lowest WCSS
    likelihood = cell([(1, 2.0, 0.9), (1, 1.0, 0.8)], objective="log_likelihood")
    assert headline.chosen(likelihood)["acc"] == 0.9  # highest log-likelihood
    # the best objective is not the best clustering: marked
    assert headline.below_mean(cell([(1, 1.0, 0.8), (2, 2.0, 0.97)]))
    assert not headline.below_mean(cell([(1, 1.0, 0.97), (2, 2.0, 0.8)]))


def test_stability_matches_the_odds_of_drawing_the_best_basin() -> None:
    """10 starts find the lower objective (acc 0.80), 10 another one (0.97): a headline of r
    starts misses the lower one when all r come from the other, C(10, r) / C(20, r)."""
    rows = cell([(10, 1.0, 0.80), (10, 1.1, 0.97)])
    for r in (1, 3, 5):
        s = headline.stability(rows, r)
        assert s is not None
        expected = math.comb(10, r) / math.comb(20, r)
        assert s["moved"] == pytest.approx(expected, abs=0.03), r
    assert headline.stability(rows, 3)["median"] == 0.80
    assert headline.stability(rows, 1)["p95"] == 0.97
    assert headline.stability(rows, 20) is None  # as many starts as rows: nothing to draw


def test_one_basin_never_moves() -> None:
    s = headline.stability(cell([(12, 1.0, 0.97)]), 3)
    assert s == {"p05": 0.97, "median": 0.97, "p95": 0.97, "moved": 0.0}

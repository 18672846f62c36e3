"""A cell's total time and the Pareto front of score against time.

A cell's **total time** is what a user pays for its labels: the features (every step's fit and
transform, a supervised extractor's training too) and the backend's fit and predict. The
**front** holds the cells that no other cell beats on both counts: none scores at least as high
in no more time and is better in one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def total_seconds(rows: pd.DataFrame) -> pd.Series:
    """Each row's extraction + fit + predict seconds (a supervised extractor's training in)."""
    supervised = rows["supervised"].astype(bool)
    training = rows["extractor_fit_s"].where(supervised, 0.0).fillna(0.0)
    return rows["extract_s"].fillna(0.0) + training + rows["fit_s"] + rows["predict_s"]


def on_front(score: pd.Series, seconds: pd.Series) -> pd.Series:
    """Whether each cell is on the front of ``score`` (higher is better) against ``seconds``
    (lower is better); a cell without a score or a time is not."""
    known = score.notna() & seconds.notna()
    order = np.lexsort((-score[known].to_numpy(), seconds[known].to_numpy()))
    best = -np.inf
    front = pd.Series(False, index=score.index)
    for at in order:  # fastest first; among equally fast, the best first
        value = score[known].iloc[at]
        if value > best:
            front[score[known].index[at]] = True
            best = value
    return front

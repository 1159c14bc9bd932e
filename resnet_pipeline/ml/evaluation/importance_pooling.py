"""A variant's importances pooled over its folds, with a 95% interval across folds, ranked.

Each fold's month gives one importance per channel, family and metric (the mean over its
shuffles, ``permutation_importance``); pooled, it is their mean over the folds, and the
interval is Student's t: mean +- t(0.975, k - 1) * s / sqrt(k), s the folds' standard
deviation. Why t and not a bootstrap over folds: a walk-forward has few folds (2 to 12), and a
percentile bootstrap over k values cannot leave [min, max] of them (with two folds it is
about the two values themselves): too narrow exactly where folds are few. The t-interval
widens as folds get fewer (t = 12.7 for two folds, 2.57 for six). It reads the folds as
independent draws of a month's importance; folds share training months (and warm starts),
so the interval is if anything too narrow. One fold: no interval (low and high missing).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["predictor", "kind", "name", "metric"]
POOLED = (*KEYS, "mean", "low", "high", "folds", "rank")
LEVEL = 0.95


def t_interval(
    values: np.ndarray, level: float = LEVEL
) -> tuple[float, float | None, float | None]:
    """Mean and Student's t interval of the finite ``values`` (no interval below 2 of them)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, None, None
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None, None
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(mean - half), float(mean + half)


def stacked(per_fold: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The folds' importance frames in one, with a ``fold`` column (the mapping's keys)."""
    if not per_fold:
        raise ValueError("no fold importances to pool: give {fold month: importance frame}")
    return pd.concat(
        [frame.assign(fold=fold) for fold, frame in per_fold.items()], ignore_index=True
    )


def pooled_importance(per_fold: Mapping[str, pd.DataFrame], level: float = LEVEL) -> pd.DataFrame:
    """Per predictor, kind, name and metric: the mean over folds, its t-interval (``low``,
    ``high``: None with one fold), the folds counted and the rank (1: the largest mean within
    its predictor, kind and metric), sorted by rank."""
    rows = []
    for key, group in stacked(per_fold).groupby(KEYS, sort=False):
        mean, low, high = t_interval(group["mean"].to_numpy(), level)
        folds = int(np.isfinite(group["mean"].to_numpy(np.float64)).sum())
        pooled = {"mean": mean, "low": low, "high": high, "folds": folds}
        rows.append(dict(zip(KEYS, key, strict=True)) | pooled)
    frame = pd.DataFrame(rows, columns=[c for c in POOLED if c != "rank"])
    frame["rank"] = (
        frame.groupby(["predictor", "kind", "metric"])["mean"]
        .rank(ascending=False, method="first", na_option="bottom")
        .astype(int)
    )
    return frame.sort_values(["predictor", "kind", "metric", "rank"], ignore_index=True)


def _of(frame: pd.DataFrame, predictor: str, kind: str, metric: str) -> pd.DataFrame:
    chosen = (
        (frame["predictor"] == predictor) & (frame["kind"] == kind) & (frame["metric"] == metric)
    )
    return frame[chosen]


def fold_matrix(
    per_fold: Mapping[str, pd.DataFrame], predictor: str, kind: str, metric: str
) -> pd.DataFrame:
    """Names (in pooled rank order) x folds (in the mapping's order): each fold's importance."""
    every = stacked(per_fold)
    chosen = _of(every, predictor, kind, metric)
    if chosen.empty:
        raise ValueError(
            f"no {kind} importances of {predictor!r} for {metric!r} in the folds; they hold "
            f"predictors {sorted(set(every['predictor']))}, metrics {sorted(set(every['metric']))}"
        )
    table = chosen.pivot(index="name", columns="fold", values="mean")
    order = _of(pooled_importance(per_fold), predictor, kind, metric)["name"]
    return table.loc[order, [fold for fold in per_fold if fold in table.columns]]

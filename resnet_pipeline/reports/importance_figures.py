"""What a trial's model looks at, for the experiment report: its permutation importances
pooled over folds (bars with their 95% interval across folds), each fold's (a heatmap of
channels x folds) and a table. The numbers come from ``ml.evaluation.importance_pooling``; a
bar is green when its interval lies above 0 (the model relies on the channel), red below
(shuffling it helps: noise the model fitted), grey when it straddles 0 or has no interval."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_pipeline.features.families import FAMILY_OF_CHANNEL
from resnet_pipeline.ml.evaluation.importance_pooling import (
    LEVEL,
    fold_matrix,
    pooled_importance,
)
from resnet_pipeline.ml.evaluation.permutation_importance import CHANNEL, FAMILY
from resnet_pipeline.number_format import count, interval, number, short
from resnet_pipeline.reports.diagnostic_plots import interval_bars
from resnet_pipeline.reports.html import table
from resnet_pipeline.reports.page import Figure
from resnet_pipeline.reports.plots import png

# What a positive importance means, per metric: the axis label of every picture.
UNITS = {
    "log_loss": "log loss added by shuffling (higher: relied on more)",
    "auc_roc_ovr": "AUC lost by shuffling (higher: relied on more)",
    "direction_auc": "Up-vs-Down AUC lost by shuffling (higher: relied on more)",
}
RELIED, HELPS, NOT_APART, NO_INTERVAL = (
    "relied on",
    "shuffling helps",
    "not told apart from 0",
    "no interval (one fold)",
)


def reading(low: float | None, high: float | None) -> str:
    """What an importance's interval across folds says."""
    if low is None or high is None or np.isnan(low) or np.isnan(high):
        return NO_INTERVAL
    if low > 0:
        return RELIED
    return HELPS if high < 0 else NOT_APART


def _selected(pooled: pd.DataFrame, predictor: str, kind: str, metric: str) -> pd.DataFrame:
    chosen = pooled[
        (pooled["predictor"] == predictor) & (pooled["kind"] == kind) & (pooled["metric"] == metric)
    ]
    if chosen.empty:
        raise ValueError(
            f"no pooled {kind} importances of {predictor!r} for {metric!r}: predictors "
            f"{sorted(set(pooled['predictor']))}, metrics {sorted(set(pooled['metric']))}"
        )
    return chosen.sort_values("rank")


def _bound(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def importance_bars(
    pooled: pd.DataFrame, predictor: str = "model", kind: str = CHANNEL, metric: str = "log_loss"
) -> bytes:
    """One bar per channel (or family), largest first, with its interval across folds."""
    rows = _selected(pooled, predictor, kind, metric)
    intervals = [
        {"estimate": _bound(r["mean"]), "low": _bound(r["low"]), "high": _bound(r["high"])}
        for r in rows.to_dict(orient="records")
    ]
    folds = int(rows["folds"].max())
    return interval_bars(
        rows["name"].tolist(),
        intervals,
        f"{predictor}: permutation importance per {kind}, mean over {count(folds, 'fold')}",
        UNITS[metric],
    )


def fold_heatmap(matrix: pd.DataFrame, title: str, metric: str = "log_loss") -> bytes:
    """``importance_pooling.fold_matrix``'s table: a cell per channel and fold, 0 white."""
    values = matrix.to_numpy(np.float64)
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * matrix.shape[1] + 3), 0.38 * len(matrix) + 1.6))
    image = ax.imshow(values, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, short(value, 2), ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(matrix)))
    ax.set_yticklabels(matrix.index)
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_xticklabels(matrix.columns, rotation=45, ha="right")
    ax.set_xlabel("fold (predicted month, UTC)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=UNITS[metric])
    return png(fig)


def importance_html(
    pooled: pd.DataFrame, predictor: str = "model", kind: str = CHANNEL, metric: str = "log_loss"
) -> str:
    """Rank, name (and a channel's family), mean over folds, its interval and its reading."""
    rows = []
    for r in _selected(pooled, predictor, kind, metric).to_dict(orient="records"):
        low, high = _bound(r["low"]), _bound(r["high"])
        row = {"rank": int(r["rank"]), kind: r["name"]}
        if kind == CHANNEL:
            known = FAMILY_OF_CHANNEL.get(r["name"])
            row["family"] = known.name if known else "n/a"
        row |= {
            "mean over folds": number(_bound(r["mean"])),
            f"{LEVEL:.0%} interval across folds": interval(low, high),
            "folds": int(r["folds"]),
            "reading": reading(low, high),
        }
        rows.append(row)
    return table(rows, list(rows[0]))


def importance_figures(
    per_fold: Mapping[str, pd.DataFrame],
    trial: str,
    predictor: str = "model",
    metric: str = "log_loss",
) -> tuple[list[Figure], list[tuple[str, str]]]:
    """The figures and (title, HTML) tables of ``trial``'s importances over its folds
    ({fold month: ``permutation_importance`` frame}): channels and families pooled, channels
    per fold."""
    pooled = pooled_importance(per_fold)
    folds = len(per_fold)
    caption = (
        f"How much worse {trial}'s {predictor} predicts a fold's month when one channel's "
        "values are shuffled across the month's windows (whole windows of the channel), "
        f"averaged over the shuffles; bars: the mean over {count(folds, 'fold')}, whiskers: "
        f"its {LEVEL:.0%} Student's t interval across folds"
        + (" (one fold: no interval)." if folds < 2 else ".")
    )
    figures = [
        Figure(
            f"plot_importance_{predictor}_channels",
            f"What {trial} looks at: channels ({predictor})",
            importance_bars(pooled, predictor, CHANNEL, metric),
            caption,
        ),
        Figure(
            f"plot_importance_{predictor}_families",
            f"What {trial} looks at: families ({predictor})",
            importance_bars(pooled, predictor, FAMILY, metric),
            "A family: all its channels the model reads, shuffled together.",
        ),
        Figure(
            f"plot_importance_{predictor}_folds",
            f"Importance per fold: {trial} ({predictor})",
            fold_heatmap(
                fold_matrix(per_fold, predictor, CHANNEL, metric),
                f"{predictor}: permutation importance per channel and fold",
                metric,
            ),
            "Each cell: the fold's mean over its shuffles; a channel relied on in one month "
            "only is a regime, not a habit.",
        ),
    ]
    tables = [
        (
            f"Permutation importance per channel: {trial} ({predictor})",
            importance_html(pooled, predictor, CHANNEL, metric),
        ),
        (
            f"Permutation importance per family: {trial} ({predictor})",
            importance_html(pooled, predictor, FAMILY, metric),
        ),
    ]
    return figures, tables

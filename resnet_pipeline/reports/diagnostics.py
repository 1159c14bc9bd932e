"""The numbers behind a report's diagnostics, from a predictions frame.

A predictions frame has one row per predicted minute: ``timestamp``, the model's ``p_down``,
``p_neutral``, ``p_up``, the ``label`` and a ``fold`` (the month 'YYYY-MM' whose model made
it; a test split is one model, so its months are its folds). The walk-forward, test,
backtest and experiment reports compute their diagnostics here and plot them with
``reports.diagnostic_plots``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.evaluation.classification import reliability_curves
from resnet_pipeline.ml.evaluation.shown_metrics import confusion_counts, normalized

MODEL_COLUMNS = ("p_down", "p_neutral", "p_up")
SWEEP_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.35, 0.951, 0.05))
HISTOGRAM_BINS = np.linspace(0.0, 1.0, 51)
DOWN, UP = CLASS_NAMES.index("Down"), CLASS_NAMES.index("Up")


def with_month_folds(predictions: pd.DataFrame) -> pd.DataFrame:
    """A one-model predictions frame (the test split) with ``fold`` = its month."""
    stamps = pd.to_datetime(predictions["timestamp"], utc=True)
    return predictions.assign(fold=stamps.dt.strftime("%Y-%m"))


def model_proba(frame: pd.DataFrame) -> np.ndarray:
    return normalized(frame[list(MODEL_COLUMNS)].to_numpy(np.float64))


def confusions(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """[3, 3] counts (rows true, columns predicted): pooled under 'all', then per fold."""
    y = frame["label"].to_numpy(np.int64)
    predicted = model_proba(frame).argmax(axis=1)
    out = {"all": confusion_counts(y, predicted, 3)}
    for fold, positions in sorted(frame.groupby("fold").indices.items()):
        out[fold] = confusion_counts(y[positions], predicted[positions], 3)
    return out


def recall_normalized(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each true class predicted as each class
    (the diagonal is the recall); rows without samples stay 0."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def reliability(frame: pd.DataFrame) -> dict[str, tuple[list[float], list[float]]]:
    """Per class: mean predicted probability and observed frequency in 10 quantile bins."""
    return reliability_curves(frame["label"].to_numpy(np.int64), model_proba(frame))


def histograms(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Minutes per bin of width 0.02 for p_up and p_down."""
    proba = model_proba(frame)
    return {
        "p_up": np.histogram(proba[:, UP], HISTOGRAM_BINS)[0],
        "p_down": np.histogram(proba[:, DOWN], HISTOGRAM_BINS)[0],
    }


def threshold_sweep(
    frame: pd.DataFrame, thresholds: tuple[float, ...] = SWEEP_THRESHOLDS
) -> pd.DataFrame:
    """Per threshold t: the minutes whose p_up (p_down) is above t, i.e. the minutes that
    would signal LONG (SHORT), and the share of them whose label is Up (Down): the
    precision of the signal. The trades a backtest opens are at most the signal runs."""
    proba = model_proba(frame)
    y = frame["label"].to_numpy(np.int64)
    rows = []
    for t in thresholds:
        row: dict = {"threshold": t}
        for side, k in (("long", UP), ("short", DOWN)):
            signal = proba[:, k] > t
            row[f"{side}_minutes"] = int(signal.sum())
            row[f"{side}_precision"] = float((y[signal] == k).mean()) if signal.any() else None
        rows.append(row)
    return pd.DataFrame(rows)


def drift_zscores(month_features: Mapping[str, pd.DataFrame], channels: list[str]) -> pd.DataFrame:
    """[channel, month]: each channel's monthly mean as a z-score against the first month,
    (mean_m - mean_first) / std_first, so channels of any scale share one axis."""
    months = sorted(month_features)
    if not months:
        return pd.DataFrame(index=channels)
    first = month_features[months[0]][channels].astype(np.float64)
    centre, scale = first.mean(), first.std(ddof=0).replace(0.0, np.nan)
    columns = {m: (month_features[m][channels].mean() - centre) / scale for m in months}
    return pd.DataFrame(columns, index=channels)

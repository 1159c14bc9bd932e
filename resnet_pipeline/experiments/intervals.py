"""Day-block bootstrap intervals of a leaderboard line: accuracy, macro F1, AUC and log loss.

Accuracy and AUC come from ``ml.evaluation.bootstrap.classification_draws`` (SPEC 13's paired
day-block
resamples). Macro F1 and log loss are computed here on the very same resamples (the same
``stationary_indices`` of the same days, seed and block length), so all four intervals of a
line, and the lines of one report, resample the same days. Each resample is a row of day
weights: F1 from the weighted confusion counts of each day, log loss from each day's summed
losses, one matrix product each.
"""

from __future__ import annotations

import numpy as np

from resnet_pipeline.ml.evaluation.bootstrap import (
    block_length,
    classification_draws,
    day_units,
    day_weights,
    interval_of,
    stationary_indices,
)
from resnet_pipeline.ml.evaluation.calibration import PROBABILITY_FLOOR
from resnet_pipeline.ml.evaluation.classification import auc_ovr

METRICS = ("accuracy", "macro_f1", "auc_roc_ovr", "log_loss")


def resample_weights(n_days: int, n_boot: int, seed: int) -> np.ndarray:
    """[1 + n_boot, n_days] day weights: row 0 the sample as drawn, then the resamples of
    ``classification_draws`` (same rule, same seed)."""
    picks = stationary_indices(n_days, block_length(n_days), n_boot, seed)
    return np.vstack([np.ones((1, n_days)), day_weights(picks, n_days)])


def macro_f1_draws(
    y: np.ndarray, predicted: np.ndarray, unit: np.ndarray, weights: np.ndarray, classes: int = 3
) -> np.ndarray:
    """Macro F1 (a class with no true and no predicted sample scores 0, as scikit-learn's
    ``zero_division=0``) per row of day ``weights``."""
    n_days = weights.shape[1]
    cells = (y * classes + predicted) * n_days + unit
    counts = np.bincount(cells, minlength=classes * classes * n_days).astype(np.float64)
    confusion = (weights @ counts.reshape(classes * classes, n_days).T).reshape(
        len(weights), classes, classes
    )
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=1) + confusion.sum(axis=2)  # 2 TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denominator > 0, 2 * hits / denominator, 0.0)
    return f1.mean(axis=1)


def log_loss_draws(
    y: np.ndarray, proba: np.ndarray, unit: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Mean negative log-likelihood at the labels (probabilities floored and renormalized as
    ``ml.evaluation.classification`` does) per row of day ``weights``."""
    n_days = weights.shape[1]
    p = np.clip(proba, PROBABILITY_FLOOR, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y])
    per_day = np.bincount(unit, loss, n_days)
    samples = np.bincount(unit, minlength=n_days).astype(np.float64)
    return (weights @ per_day) / (weights @ samples)


def metric_intervals(
    y: np.ndarray, proba: np.ndarray, days: np.ndarray, n_boot: int, seed: int
) -> dict[str, dict]:
    """{metric: {estimate, low, high}} of ``METRICS`` for probabilities [N, 3] at labels [N];
    ``days``: each sample's UTC day."""
    y = np.asarray(y, np.int64)
    proba = np.asarray(proba, np.float64)
    estimates, draws = classification_draws(y, {"model": proba}, days, n_boot, seed)
    unit, n_days = day_units(days)
    weights = resample_weights(n_days, n_boot, seed)
    f1 = macro_f1_draws(y, proba.argmax(axis=1), unit, weights, proba.shape[1])
    loss = log_loss_draws(y, proba, unit, weights)
    auc = estimates["model_auc"]
    return {
        "accuracy": interval_of(estimates["model_accuracy"], draws["model_accuracy"]).to_dict(),
        "macro_f1": interval_of(float(f1[0]), f1[1:]).to_dict(),
        "auc_roc_ovr": interval_of(None if np.isnan(auc) else auc, draws["model_auc"]).to_dict(),
        "log_loss": interval_of(float(loss[0]), loss[1:]).to_dict(),
    }


def point_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """``METRICS`` of probabilities [N, K] at labels [N], without resampling (as
    ``ml.evaluation.classification.classification_metrics`` computes them, at a fraction of its
    cost)."""
    y = np.asarray(y, np.int64)
    proba = np.asarray(proba, np.float64)
    one_day, weight = np.zeros(len(y), np.int64), np.ones((1, 1))
    return {
        "accuracy": float(np.mean(proba.argmax(axis=1) == y)) if len(y) else None,
        "macro_f1": float(
            macro_f1_draws(y, proba.argmax(axis=1), one_day, weight, proba.shape[1])[0]
        ),
        "auc_roc_ovr": auc_ovr(y, proba),
        "log_loss": float(log_loss_draws(y, proba, one_day, weight)[0]),
    }

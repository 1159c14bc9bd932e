"""The day-block bootstrap of classification metrics, one resample at a time: the plain
reference the vectorized ``ml.evaluation.bootstrap.classification_intervals`` must equal.

Each resample turns its day counts into one weight per sample and recomputes accuracy and the
macro one-vs-rest AUC from those weights (scores ranked once, each class's AUC the weighted
Mann-Whitney sum over ranks). Only ``stationary_indices`` (the resampled days) and
``intervals_from_draws`` (percentiles of the draws) are shared with the product; every
metric is computed here independently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from resnet_pipeline.ml.evaluation.bootstrap import (
    block_length,
    intervals_from_draws,
    stationary_indices,
)


class WeightedAUC:
    """Macro one-vs-rest AUC under sample weights (ties count one half)."""

    def __init__(self, y: np.ndarray, proba: np.ndarray) -> None:
        self.parts = []
        for k in range(proba.shape[1]):
            _, inverse = np.unique(proba[:, k], return_inverse=True)
            self.parts.append((inverse, y == k, int(inverse.max()) + 1 if len(y) else 0))

    def __call__(self, w: np.ndarray) -> float:
        aucs = []
        for inverse, positive, size in self.parts:
            wp = np.bincount(inverse, w * positive, size)
            wn = np.bincount(inverse, w * ~positive, size)
            total_p, total_n = wp.sum(), wn.sum()
            if total_p <= 0 or total_n <= 0:
                return math.nan
            below = np.cumsum(wn) - wn
            aucs.append(float((wp * (below + 0.5 * wn)).sum() / (total_p * total_n)))
        return float(np.mean(aucs))


def reference_classification_draws(
    y: np.ndarray, proba: Mapping[str, np.ndarray], days: np.ndarray, n_boot: int, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each metric's value on the sample and its [n_boot] resampled values."""
    y = np.asarray(y, np.int64)
    day_codes, unit = np.unique(np.asarray(days), return_inverse=True)
    n_days = len(day_codes)
    metrics = {}
    for name, p in proba.items():
        p = np.asarray(p, np.float64)
        correct = (p.argmax(1) == y).astype(np.float64)
        metrics[f"{name}_accuracy"] = lambda w, c=correct: float((w * c).sum() / w.sum())
        has_all = len(np.unique(y)) == p.shape[1]
        metrics[f"{name}_auc"] = WeightedAUC(y, p) if has_all else (lambda w: math.nan)
    ones = np.ones(len(y))
    estimates = {k: f(ones) for k, f in metrics.items()}
    draws = {k: np.empty(n_boot) for k in metrics}
    for b, picks in enumerate(stationary_indices(n_days, block_length(n_days), n_boot, seed)):
        w = np.bincount(picks, minlength=n_days)[unit].astype(np.float64)
        for k, f in metrics.items():
            draws[k][b] = f(w)
    return estimates, draws


def reference_classification_intervals(
    y: np.ndarray,
    proba: Mapping[str, np.ndarray],
    days: np.ndarray,
    reference: str = "model",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict]:
    estimates, draws = reference_classification_draws(y, proba, days, n_boot, seed)
    out = intervals_from_draws(estimates, draws, list(proba), reference)
    n_days = len(np.unique(np.asarray(days)))
    out["block"] = {"unit": "UTC day", "days": n_days, "expected_length": block_length(n_days)}
    return out

"""The few classification metrics a report table shows, without the full evaluation.

``classification_metrics`` (confusion matrix, reliability curves, every per-class figure
through scikit-learn's validating wrappers) costs ~0.15 s on a month of minutes; a report
table needs six numbers per predictor and month. These come from one confusion count and
the Mann-Whitney form of the AUC (one ranking per class), and equal
``classification_metrics``' values to rounding (the tests hold them together).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from resnet_pipeline.features.labels import CLASS_NAMES

SHOWN = ("accuracy", "macro_f1", "precision_up", "precision_down", "auc_roc_ovr", "log_loss")
_EPS = 1e-7  # as classification_metrics: probabilities clipped, then renormalized


def normalized(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, np.float64), _EPS, 1.0)
    return proba / proba.sum(axis=1, keepdims=True)


def confusion_counts(y: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """[k, k] counts: rows the true class, columns the predicted one."""
    return np.bincount(y * k + predicted, minlength=k * k).reshape(k, k)


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for ``positive`` (both classes present): the Mann-Whitney
    statistic over the mid-ranks, ties counting one half."""
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    wins = rankdata(score)[positive].sum() - n_positive * (n_positive + 1) / 2
    return float(wins / (n_positive * n_negative))


def macro_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    """Macro one-vs-rest AUC; None unless every class occurs in ``y``."""
    k = scores.shape[1]
    if len(np.unique(y)) < k:
        return None
    if k == 2:
        return binary_auc(y == 1, scores[:, 1])
    return float(np.mean([binary_auc(y == c, scores[:, c]) for c in range(k)]))


def shown_metrics(y: np.ndarray, proba: np.ndarray) -> dict:
    """``SHOWN`` for 3-class probabilities [N, 3] and labels [N] (None where undefined)."""
    y = np.asarray(y, np.int64)
    if not len(y):
        return {k: None for k in SHOWN} | {"samples": 0}
    p = normalized(proba)
    k = p.shape[1]
    counts = confusion_counts(y, p.argmax(axis=1), k)
    right = np.diag(counts).astype(np.float64)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, right / predicted, 0.0)
        f1 = np.where(predicted + actual > 0, 2 * right / (predicted + actual), 0.0)
    index = {name.lower(): i for i, name in enumerate(CLASS_NAMES)}
    return {
        "accuracy": float(right.sum() / len(y)),
        "macro_f1": float(f1.mean()),
        "precision_up": float(precision[index["up"]]),
        "precision_down": float(precision[index["down"]]),
        "auc_roc_ovr": macro_auc(y, p),
        "log_loss": float(-np.log(p[np.arange(len(y)), y]).mean()),
        "samples": int(len(y)),
    }

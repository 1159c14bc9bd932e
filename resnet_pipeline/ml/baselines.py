"""The simple models a deep network has to beat (SPEC 10, 12): the training set's majority
class and a multinomial logistic regression on the newest row of each input window.

Fitted once per training set; ``fit_baselines`` keeps them as plain numbers (class shares,
logistic coefficients) so a walk-forward fold stores them beside its model and applies them
to its month later without refitting.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from resnet_pipeline.ml.dataset import DatasetSplits

MAX_ROWS = 50_000  # the logistic regression fits on at most this many training windows


def last_rows(splits: DatasetSplits, ends: np.ndarray) -> np.ndarray:
    """The newest row of each model input window: the logistic baseline's features. Each row
    is finished as a one-row window (its prices relative to its own close, as in the full
    window), so no window is gathered for it."""
    ends = np.asarray(ends, np.int64)
    rows = np.ascontiguousarray(splits.matrix[ends][:, :, None])  # [N, C, 1]
    return splits.normalizer.finish(rows)[:, :, 0]


def majority_shares(train_labels: np.ndarray, classes: int = 3) -> np.ndarray:
    """The training set's class frequencies: their argmax is the majority class."""
    shares = np.bincount(np.asarray(train_labels, np.int64), minlength=classes)
    shares = shares.astype(np.float64)
    return shares / shares.sum()


def training_sample(n: int, seed: int = 0, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Positions of the training rows the logistic regression fits on: all of them, or a
    seeded sample of ``max_rows`` kept in time order."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def fit_logistic(x_train: np.ndarray, y_train: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=300).fit(np.nan_to_num(x_train), y_train)


def majority_baseline(train_labels: np.ndarray, n: int, classes: int = 3) -> np.ndarray:
    """[n, classes]: always the training set's class frequencies."""
    return np.tile(majority_shares(train_labels, classes), (n, 1))


def logistic_baseline(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    classes: int = 3,
) -> np.ndarray:
    """[len(x_test), classes] probabilities of the logistic regression fitted on the
    training rows (classes absent from training get 0)."""
    keep = training_sample(len(x_train), seed, max_rows)
    model = fit_logistic(x_train[keep], y_train[keep])
    proba = np.zeros((len(x_test), classes))
    proba[:, model.classes_] = model.predict_proba(np.nan_to_num(x_test))
    return proba


def fit_baselines(splits: DatasetSplits, seed: int = 0, max_rows: int = MAX_ROWS) -> dict:
    """Both baselines fitted on the training windows of ``splits``, as plain lists."""
    ends = splits.train_ends[training_sample(len(splits.train_ends), seed, max_rows)]
    model = fit_logistic(last_rows(splits, ends), splits.labels[ends])
    return {
        "majority_shares": majority_shares(splits.labels[splits.train_ends]).tolist(),
        "logistic_classes": model.classes_.tolist(),
        "logistic_coef": model.coef_.tolist(),
        "logistic_intercept": model.intercept_.tolist(),
    }


def baseline_proba(baselines: dict, x_last: np.ndarray) -> dict[str, np.ndarray]:
    """[N, C] newest rows -> the stored baselines' probabilities [N, 3] each."""
    n = len(x_last)
    majority = np.tile(np.asarray(baselines["majority_shares"]), (n, 1))
    coef = np.asarray(baselines["logistic_coef"])
    intercept = np.asarray(baselines["logistic_intercept"])
    classes = np.asarray(baselines["logistic_classes"], np.int64)
    scores = np.nan_to_num(x_last).astype(np.float64) @ coef.T + intercept
    if len(classes) == 2:  # sklearn's binary case: one column of scores
        scores = np.concatenate([-scores / 2, scores / 2], axis=1)
    scores -= scores.max(axis=1, keepdims=True)
    partial = np.exp(scores)
    partial /= partial.sum(axis=1, keepdims=True)
    logistic = np.zeros((n, 3))
    logistic[:, classes] = partial
    return {"majority": majority, "logistic": logistic}

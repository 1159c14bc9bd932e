"""The simple models a deep network has to beat (SPEC 10, 12, 14): the training set's majority
class, a multinomial logistic regression and gradient-boosted trees, both on the newest row of
each input window (its normalized channels, NaN read as 0) and on the same seeded sample of
at most ``MAX_ROWS`` training windows (``training_sample``), so they differ only in the model.

Fitted once per training set; ``fit_baselines`` keeps the majority and logistic baselines as
plain numbers (class shares, logistic coefficients) so a walk-forward fold stores them beside
its model and applies them to its month later without refitting.

The trees (``fit_predict_trees``, scikit-learn's ``HistGradientBoostingClassifier``) fit and
predict in one step. Fitted trees are not plain numbers: pickle and joblib would run arbitrary
code when loaded (the project never unpickles, SPEC 11), their arrays are private attributes
of the estimator, and ``skops`` is not a dependency. The fit is deterministic for fixed rows
and seed (the row sample, the early-stopping split and the histogram binning are all seeded),
so refitting on a fold's training rows gives exactly the probabilities a stored model would.
``TreeSettings``: at most 100 boosting rounds of depth-4 trees at learning rate 0.1, stopped
early when the log loss on a seeded, stratified 10% of the training rows has not improved for
10 rounds. One OpenMP thread: with the cores busy (a training in the same process, or other
jobs on a small machine) OpenMP's spinning threads slowed a 50,000-row fit from about 4 s to
about 55 s on two cores; one thread keeps a fold's fit to a few seconds everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from resnet_pipeline.ml.data.dataset import DatasetSplits

MAX_ROWS = 50_000  # the logistic regression and the trees fit on at most this many windows


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


@dataclass(frozen=True)
class TreeSettings:
    max_rows: int = MAX_ROWS
    max_iter: int = 100
    max_depth: int = 4
    learning_rate: float = 0.1
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    # Early stopping needs this many rows, and two of each class present, to hold out a split.
    early_stopping_min_rows: int = 1_000
    threads: int = 1


def fit_predict_trees(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_predict: np.ndarray,
    seed: int = 0,
    classes: int = 3,
    settings: TreeSettings = TreeSettings(),
) -> np.ndarray:
    """Fit on [N, C] training rows with labels in 0..classes-1, predict [M, C] rows:
    probabilities [M, classes], a class absent from training getting probability 0."""
    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train, np.int64)
    x_predict = np.asarray(x_predict)
    if x_train.ndim != 2 or x_predict.ndim != 2 or x_train.shape[1] != x_predict.shape[1]:
        raise ValueError(
            f"training rows {x_train.shape} and rows to predict {x_predict.shape} must both be "
            "[N, C] with the same C feature channels (the newest row of each window)"
        )
    if len(x_train) == 0 or y_train.shape != (len(x_train),):
        raise ValueError(
            f"{len(x_train)} training rows and {y_train.shape} labels: the trees need at least "
            "one training row and one label per row"
        )
    if y_train.min() < 0 or y_train.max() >= classes:
        raise ValueError(f"labels must be in 0..{classes - 1}")
    proba = np.zeros((len(x_predict), classes))
    if len(x_predict) == 0:
        return proba
    keep = training_sample(len(x_train), seed, settings.max_rows)
    x, y = np.nan_to_num(x_train[keep]), y_train[keep]
    counts = np.bincount(y)
    if np.count_nonzero(counts) == 1:  # nothing to separate: the one class, with certainty
        proba[:, y[0]] = 1.0
        return proba
    early = len(y) >= settings.early_stopping_min_rows and counts[counts > 0].min() >= 2
    model = HistGradientBoostingClassifier(
        max_iter=settings.max_iter,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        early_stopping=bool(early),
        validation_fraction=settings.validation_fraction,
        n_iter_no_change=settings.n_iter_no_change,
        scoring="loss",
        random_state=seed,
    )
    with threadpool_limits(settings.threads):
        model.fit(x, y)
        proba[:, model.classes_] = model.predict_proba(np.nan_to_num(x_predict))
    return proba


def tree_proba(
    splits: DatasetSplits, predict_ends: np.ndarray, seed: int = 0, max_rows: int = MAX_ROWS
) -> np.ndarray:
    """The trees fitted on the training windows of ``splits`` (the logistic regression's
    sample and inputs) and applied to the windows ending at ``predict_ends``: [N, 3]."""
    ends = splits.train_ends[training_sample(len(splits.train_ends), seed, max_rows)]
    settings = TreeSettings(max_rows=max_rows)
    return fit_predict_trees(
        last_rows(splits, ends),
        splits.labels[ends],
        last_rows(splits, predict_ends),
        seed,
        settings=settings,
    )

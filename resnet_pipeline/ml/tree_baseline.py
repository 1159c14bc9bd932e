"""The gradient-boosted trees baseline (SPEC 14): scikit-learn's ``HistGradientBoostingClassifier``
on the same inputs as the logistic baseline, the newest row of each window (its normalized
feature channels), NaN read as 0 so the two baselines differ only in the model.

Why fit and predict in one step: a fold predicts its month after training, and the logistic
baseline is kept for that as plain numbers. Fitted trees are not plain numbers: pickle and
joblib would run arbitrary code when loaded (the project never unpickles, SPEC 11), their
arrays are private attributes of the estimator, and ``skops`` is not a dependency. The fit is
deterministic for fixed rows and seed (the row sample, the early-stopping split and the
histogram binning are all seeded), so refitting on the fold's training rows when the fold
predicts gives exactly the probabilities a stored model would: the fold stores the seed and
the settings, and pays the fit (seconds) again.

Settings (``TreeSettings``): at most 50,000 training rows drawn with the seed, as for the
logistic baseline; at most 100 boosting rounds of depth-4 trees at learning rate 0.1, stopped
early when the log loss on a seeded, stratified 10% of the training rows has not improved for
10 rounds. One OpenMP thread: with the cores busy (a training in the same process, or other
jobs on a small machine) OpenMP's spinning threads slowed a 50,000-row fit from about 4 s to
about 55 s on two cores; one thread keeps a fold's fit to a few seconds everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class TreeSettings:
    max_rows: int = 50_000
    max_iter: int = 100
    max_depth: int = 4
    learning_rate: float = 0.1
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    # Early stopping needs this many rows, and two of each class present, to hold out a split.
    early_stopping_min_rows: int = 1_000
    threads: int = 1


def _sample(x: np.ndarray, y: np.ndarray, seed: int, max_rows: int) -> tuple[np.ndarray, ...]:
    """At most ``max_rows`` rows drawn without replacement by the seed, in their original order."""
    if len(x) <= max_rows:
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
    return x[keep], y[keep]


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
    x, y = _sample(np.nan_to_num(x_train), y_train, seed, settings.max_rows)
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

"""The simple models a deep network has to beat (SPEC 10, 12, 14): the training set's majority
class, a multinomial logistic regression and gradient-boosted trees, both on the newest row of
each input window (its normalized channels, NaN read as 0) and on the same seeded sample of
at most ``MAX_ROWS`` training windows (``training_sample``), so they differ only in the model.

Each is a scikit-learn estimator (``fit(X, y)``, ``predict_proba(X)`` over all three classes,
``get_params``): ``MajorityBaseline``, ``LogisticBaseline``, ``TreesBaseline``. A walk-forward
fold stores its majority and logistic baselines beside its model as plain numbers
(``FoldBaselines.to_dict``: class shares, logistic coefficients) and applies them to its month
later without refitting: the project never unpickles (SPEC 11).

The trees are refitted when a fold predicts. Fitted trees are not plain numbers: pickle and
joblib would run arbitrary code when loaded, their arrays are private attributes of the
estimator, and ``skops`` is not a dependency. The fit is deterministic for fixed rows and seed
(the row sample, the early-stopping split and the histogram binning are all seeded), so
refitting on a fold's training rows gives exactly the probabilities a stored model would.
``TreeSettings``: at most 100 boosting rounds of depth-4 trees at learning rate 0.1, stopped
early when the log loss on a seeded, stratified 10% of the training rows has not improved for
10 rounds. One OpenMP thread: with the cores busy (a training in the same process, or other
jobs on a small machine) OpenMP's spinning threads slowed a 50,000-row fit from about 4 s to
about 55 s on two cores; one thread keeps a fold's fit to a few seconds everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from resnet_pipeline.ml.data.dataset import DatasetSplits

MAX_ROWS = 50_000  # the logistic regression and the trees fit on at most this many windows
CLASSES = 3
# The columns each stored predictor's probabilities (down, neutral, up) are written under.
PROBA_COLUMNS = {
    "model": ("p_down", "p_neutral", "p_up"),
    "majority": ("majority_down", "majority_neutral", "majority_up"),
    "logistic": ("logistic_down", "logistic_neutral", "logistic_up"),
}


def last_rows(splits: DatasetSplits, ends: np.ndarray) -> np.ndarray:
    """The newest row of each model input window: the baselines' features. Each row is
    finished as a one-row window (its prices relative to its own close, as in the full
    window), so no window is gathered for it."""
    ends = np.asarray(ends, np.int64)
    rows = np.ascontiguousarray(splits.matrix[ends][:, :, None])  # [N, C, 1]
    return splits.normalizer.finish(rows)[:, :, 0]


def training_sample(n: int, seed: int = 0, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Positions of the training rows the logistic regression and the trees fit on: all of
    them, or a seeded sample of ``max_rows`` kept in time order."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def _labels(y: np.ndarray, rows: int, classes: int) -> np.ndarray:
    y = np.asarray(y, np.int64)
    if rows == 0 or y.shape != (rows,):
        raise ValueError(
            f"{rows} training rows and {y.shape} labels: a baseline needs at least one "
            "training row and one label per row"
        )
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"labels must be in 0..{classes - 1}")
    return y


class _ThreeClasses(ClassifierMixin, BaseEstimator):
    """Probabilities over every class 0..n_classes-1, a class absent from training getting 0;
    ``predict`` is their argmax."""

    n_classes: int

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


class MajorityBaseline(_ThreeClasses):
    """Always the training set's class frequencies: their argmax is the majority class."""

    def __init__(self, n_classes: int = CLASSES) -> None:
        self.n_classes = n_classes

    def fit(self, X: np.ndarray | None, y: np.ndarray) -> MajorityBaseline:
        """``X`` is not read (any rows, or None)."""
        y = _labels(y, len(np.asarray(y)), self.n_classes)
        shares = np.bincount(y, minlength=self.n_classes).astype(np.float64)
        self.shares_ = shares / shares.sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.shares_, (len(X), 1))

    def to_dict(self) -> dict:
        return {"majority_shares": self.shares_.tolist()}

    @classmethod
    def from_dict(cls, stored: dict) -> MajorityBaseline:
        baseline = cls(len(stored["majority_shares"]))
        baseline.shares_ = np.asarray(stored["majority_shares"], np.float64)
        return baseline


class LogisticBaseline(_ThreeClasses):
    """Multinomial logistic regression (scikit-learn's, 300 iterations) on at most
    ``max_rows`` seeded training rows. It predicts from its coefficients alone, so a baseline
    restored by ``from_dict`` gives exactly the fitted one's probabilities."""

    def __init__(self, seed: int = 0, max_rows: int = MAX_ROWS, n_classes: int = CLASSES) -> None:
        self.seed = seed
        self.max_rows = max_rows
        self.n_classes = n_classes

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        X = np.asarray(X)
        y = _labels(y, len(X), self.n_classes)
        keep = training_sample(len(X), self.seed, self.max_rows)
        model = LogisticRegression(max_iter=300).fit(np.nan_to_num(X[keep]), y[keep])
        self.fitted_classes_ = model.classes_.astype(np.int64)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = np.nan_to_num(np.asarray(X)).astype(np.float64) @ self.coef_.T + self.intercept_
        if len(self.fitted_classes_) == 2:  # scikit-learn's binary case: one column of scores
            scores = np.concatenate([-scores / 2, scores / 2], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        partial = np.exp(scores)
        partial /= partial.sum(axis=1, keepdims=True)
        proba = np.zeros((len(scores), self.n_classes))
        proba[:, self.fitted_classes_] = partial
        return proba

    def to_dict(self) -> dict:
        return {
            "logistic_classes": self.fitted_classes_.tolist(),
            "logistic_coef": self.coef_.tolist(),
            "logistic_intercept": self.intercept_.tolist(),
        }

    @classmethod
    def from_dict(cls, stored: dict) -> LogisticBaseline:
        baseline = cls()
        baseline.fitted_classes_ = np.asarray(stored["logistic_classes"], np.int64)
        baseline.coef_ = np.asarray(stored["logistic_coef"], np.float64)
        baseline.intercept_ = np.asarray(stored["logistic_intercept"], np.float64)
        return baseline


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


class TreesBaseline(_ThreeClasses):
    """scikit-learn's ``HistGradientBoostingClassifier`` under ``TreeSettings`` on at most
    ``settings.max_rows`` seeded training rows; one class in training: that class, certain."""

    def __init__(
        self, seed: int = 0, settings: TreeSettings = TreeSettings(), n_classes: int = CLASSES
    ) -> None:
        self.seed = seed
        self.settings = settings
        self.n_classes = n_classes

    def fit(self, X: np.ndarray, y: np.ndarray) -> TreesBaseline:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"training rows {X.shape} must be [N, C] (the newest row of each window)"
            )
        y = _labels(y, len(X), self.n_classes)
        keep = training_sample(len(X), self.seed, self.settings.max_rows)
        x, y = np.nan_to_num(X[keep]), y[keep]
        self.n_features_in_ = X.shape[1]
        counts = np.bincount(y)
        self.only_class_ = int(y[0]) if np.count_nonzero(counts) == 1 else None
        self.model_ = None
        if self.only_class_ is not None:  # nothing to separate
            return self
        s = self.settings
        early = len(y) >= s.early_stopping_min_rows and counts[counts > 0].min() >= 2
        self.model_ = HistGradientBoostingClassifier(
            max_iter=s.max_iter,
            max_depth=s.max_depth,
            learning_rate=s.learning_rate,
            early_stopping=bool(early),
            validation_fraction=s.validation_fraction,
            n_iter_no_change=s.n_iter_no_change,
            scoring="loss",
            random_state=self.seed,
        )
        with threadpool_limits(s.threads):
            self.model_.fit(x, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"rows to predict {X.shape} must be [N, C] with the same C feature channels as "
                f"the training rows ({self.n_features_in_}: the newest row of each window)"
            )
        proba = np.zeros((len(X), self.n_classes))
        if len(X) == 0:
            return proba
        if self.model_ is None:
            proba[:, self.only_class_] = 1.0
            return proba
        with threadpool_limits(self.settings.threads):
            proba[:, self.model_.classes_] = self.model_.predict_proba(np.nan_to_num(X))
        return proba


def _training_rows(
    splits: DatasetSplits, seed: int, max_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    ends = splits.train_ends[training_sample(len(splits.train_ends), seed, max_rows)]
    return last_rows(splits, ends), splits.labels[ends]


@dataclass(frozen=True)
class FoldBaselines:
    """The baselines a fold stores with its model (plain numbers, ``to_dict``): the majority
    class over every training window and the logistic regression on the seeded sample."""

    majority: MajorityBaseline
    logistic: LogisticBaseline

    @classmethod
    def fit(cls, splits: DatasetSplits, seed: int = 0, max_rows: int = MAX_ROWS) -> FoldBaselines:
        x, y = _training_rows(splits, seed, max_rows)
        return cls(
            MajorityBaseline().fit(None, splits.labels[splits.train_ends]),
            LogisticBaseline(seed, max_rows).fit(x, y),
        )

    def predict_proba(self, x_last: np.ndarray) -> dict[str, np.ndarray]:
        """[N, C] newest rows -> each baseline's probabilities [N, 3]."""
        return {
            "majority": self.majority.predict_proba(x_last),
            "logistic": self.logistic.predict_proba(x_last),
        }

    def to_dict(self) -> dict:
        return self.majority.to_dict() | self.logistic.to_dict()

    @classmethod
    def from_dict(cls, stored: dict) -> FoldBaselines:
        return cls(MajorityBaseline.from_dict(stored), LogisticBaseline.from_dict(stored))


def fit_fold_trees(splits: DatasetSplits, seed: int = 0, max_rows: int = MAX_ROWS) -> TreesBaseline:
    """The trees fitted on the training windows of ``splits`` (the logistic regression's
    sample and inputs): what a fold predicts with and measures the importances of."""
    x, y = _training_rows(splits, seed, max_rows)
    return TreesBaseline(seed, TreeSettings(max_rows=max_rows)).fit(x, y)

"""One implementation of the baselines: test_metrics' and a walk-forward fold's agree, and each
is a scikit-learn estimator stored as plain numbers."""

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from resnet_pipeline.ml.data.dataset import build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.evaluation.baselines import (
    FoldBaselines,
    LogisticBaseline,
    MajorityBaseline,
    TreesBaseline,
    last_rows,
    training_sample,
)
from resnet_pipeline_tests._dataset_helpers import feature_frames


@given(st.integers(0, 5000), st.integers(1, 3000), st.integers(0, 10))
def test_the_logistic_sample_is_every_row_or_a_sorted_sample_of_max_rows(n, max_rows, seed):
    picks = training_sample(n, seed, max_rows)
    assert len(picks) == min(n, max_rows) and len(np.unique(picks)) == len(picks)
    assert (np.diff(picks) > 0).all() and (n == 0 or (0 <= picks.min() and picks.max() < n))
    np.testing.assert_array_equal(picks, training_sample(n, seed, max_rows))


def test_stored_baselines_predict_what_the_fitted_ones_do():
    splits = build_splits(*feature_frames(1500, seed=3), SplitConfig(window=32))
    train, test = splits.train_ends, splits.test_ends
    y_train = splits.labels[train]
    for max_rows in (100_000, 300):  # every training row, and a sample of them
        plain = json.loads(
            json.dumps(FoldBaselines.fit(splits, seed=0, max_rows=max_rows).to_dict())
        )
        stored = FoldBaselines.from_dict(plain).predict_proba(last_rows(splits, test))
        keep = training_sample(len(train), 0, max_rows)
        sklearn = LogisticRegression(max_iter=300).fit(
            np.nan_to_num(last_rows(splits, train)[keep]), y_train[keep]
        )
        fitted = np.zeros((len(test), 3))
        fitted[:, sklearn.classes_] = sklearn.predict_proba(np.nan_to_num(last_rows(splits, test)))
        np.testing.assert_allclose(stored["logistic"], fitted, atol=1e-6)
        shares = np.bincount(y_train, minlength=3) / len(y_train)
        np.testing.assert_allclose(stored["majority"], np.tile(shares, (len(test), 1)))


def test_the_baselines_are_scikit_learn_estimators():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    for estimator in (MajorityBaseline(), LogisticBaseline(seed=1), TreesBaseline(seed=1)):
        params = estimator.get_params()
        fitted = clone(estimator).fit(x, y)
        assert fitted.get_params() == params
        proba = fitted.predict_proba(x[:50])
        assert proba.shape == (50, 3) and np.allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(fitted.predict(x[:50]), proba.argmax(axis=1))
        np.testing.assert_array_equal(fitted.classes_, [0, 1, 2])
    assert LogisticBaseline().fit(x, y).score(x, y) > 0.85

"""One implementation of the baselines: test_metrics' and a walk-forward fold's agree."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from resnet_pipeline.ml.data.dataset import build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.evaluation.baselines import (
    baseline_proba,
    fit_baselines,
    last_rows,
    logistic_baseline,
    majority_baseline,
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
        stored = baseline_proba(
            fit_baselines(splits, seed=0, max_rows=max_rows), last_rows(splits, test)
        )
        fitted = logistic_baseline(
            last_rows(splits, train), y_train, last_rows(splits, test), seed=0, max_rows=max_rows
        )
        np.testing.assert_allclose(stored["logistic"], fitted, atol=1e-6)
        np.testing.assert_allclose(stored["majority"], majority_baseline(y_train, len(test)))

"""The gradient-boosted trees baseline: a nonlinear rule the logistic baseline cannot learn,
probabilities over all three classes, and a deterministic refit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.ml.evaluation.baselines import LogisticBaseline, TreesBaseline, TreeSettings

CHANNELS = 15


def _xor_rows(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up when two channels share a sign clearly, Down when they clearly differ, else Neutral:
    the sign of a product, which no linear model of the row separates. Warm-up NaNs included."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, CHANNELS)).astype(np.float32)
    product = x[:, 3] * x[:, 7]
    y = np.where(product > 0.1, 2, np.where(product < -0.1, 0, 1))
    x[rng.random((n, CHANNELS)) < 0.01] = np.nan
    return x, y


def test_trees_learn_the_interaction_that_the_logistic_baseline_cannot():
    x_train, y_train = _xor_rows(seed=0, n=6_000)
    x_test, y_test = _xor_rows(seed=1, n=2_000)
    trees = TreesBaseline(seed=0).fit(x_train, y_train).predict_proba(x_test)
    logistic = LogisticBaseline(seed=0).fit(x_train, y_train).predict_proba(x_test)
    tree_accuracy = (trees.argmax(axis=1) == y_test).mean()
    logistic_accuracy = (logistic.argmax(axis=1) == y_test).mean()
    assert tree_accuracy > 0.8
    assert tree_accuracy > logistic_accuracy + 0.25


def test_same_rows_and_seed_give_identical_probabilities():
    x_train, y_train = _xor_rows(seed=2, n=3_000)
    x_test, _ = _xor_rows(seed=3, n=500)
    small = TreeSettings(max_rows=2_000)  # the seeded row sample is part of the fit
    first = TreesBaseline(seed=7, settings=small).fit(x_train, y_train).predict_proba(x_test)
    again = (
        TreesBaseline(seed=7, settings=small)
        .fit(x_train.copy(), y_train.copy())
        .predict_proba(x_test)
    )
    other_seed = TreesBaseline(seed=8, settings=small).fit(x_train, y_train).predict_proba(x_test)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other_seed)


def test_a_class_absent_from_training_gets_probability_zero():
    x_train, y_train = _xor_rows(seed=4, n=2_000)
    keep = y_train != 1
    proba = TreesBaseline(seed=0).fit(x_train[keep], y_train[keep]).predict_proba(x_train[:300])
    assert proba.shape == (300, 3)
    assert (proba[:, 1] == 0).all()
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_a_single_training_class_is_predicted_with_certainty():
    x_train, _ = _xor_rows(seed=5, n=50)
    proba = TreesBaseline(seed=0).fit(x_train, np.full(50, 2)).predict_proba(x_train[:4])
    assert np.array_equal(proba, np.tile([0.0, 0.0, 1.0], (4, 1)))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 1_000),
    n=st.integers(1, 1_200),
    present=st.sets(st.integers(0, 2), min_size=1),
)
def test_probabilities_are_a_distribution_over_three_classes(seed, n, present):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, CHANNELS))
    y = rng.choice(sorted(present), n)
    proba = TreesBaseline(seed=seed).fit(x, y).predict_proba(x[:20])
    assert proba.shape == (min(n, 20), 3)
    assert (proba >= 0).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, sorted({0, 1, 2} - set(y.tolist()))] == 0).all()


def test_mismatched_inputs_are_named():
    with pytest.raises(ValueError, match="same C feature channels"):
        TreesBaseline().fit(np.zeros((4, 15)), np.zeros(4)).predict_proba(np.zeros((2, 14)))
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        TreesBaseline().fit(np.zeros((4, 15)), np.array([0, 1, 2, 3])).predict_proba(
            np.zeros((2, 15))
        )
    assert TreesBaseline().fit(np.zeros((4, 15)), np.zeros(4)).predict_proba(
        np.zeros((0, 15))
    ).shape == (0, 3)

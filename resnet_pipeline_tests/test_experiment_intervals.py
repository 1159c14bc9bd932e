"""The leaderboard's macro F1 and log loss intervals resample the same days as the accuracy
and AUC intervals, and each resample equals scikit-learn's metric with those days' weights."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, log_loss

from resnet_pipeline.experiments.intervals import (
    log_loss_draws,
    macro_f1_draws,
    metric_intervals,
    point_metrics,
    resample_weights,
)
from resnet_pipeline.ml.evaluation.bootstrap import classification_intervals, day_units
from resnet_pipeline.ml.evaluation.calibration import PROBABILITY_FLOOR
from resnet_pipeline.ml.evaluation.classification import classification_metrics


def _sample(seed: int, n: int, n_days: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet([1.0, 1.0, 1.0], n)
    proba[rng.random(n) < 0.05, 0] = 0.0  # a class given probability 0 (floored)
    proba /= proba.sum(axis=1, keepdims=True)
    days = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, n_days, n)), unit="D"
    )
    return y, proba, days.to_numpy()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(30, 300), st.integers(2, 12))
def test_each_resample_equals_the_metric_with_its_day_weights(seed, n, n_days):
    y, proba, days = _sample(seed, n, n_days)
    unit, count = day_units(days)
    weights = resample_weights(count, 15, seed)
    f1 = macro_f1_draws(y, proba.argmax(axis=1), unit, weights)
    loss = log_loss_draws(y, proba, unit, weights)
    floored = np.clip(proba, PROBABILITY_FLOOR, 1)
    floored /= floored.sum(axis=1, keepdims=True)
    for row in range(len(weights)):
        w = weights[row, unit]
        keep = w > 0
        expected_f1 = f1_score(
            y[keep], proba[keep].argmax(1), labels=[0, 1, 2], average="macro",
            sample_weight=w[keep], zero_division=0,
        )  # fmt: skip
        assert np.isclose(f1[row], expected_f1, atol=1e-12)
        expected_loss = log_loss(y[keep], floored[keep], labels=[0, 1, 2], sample_weight=w[keep])
        assert np.isclose(loss[row], expected_loss, atol=1e-12)


def test_accuracy_and_auc_are_the_walk_forward_s_intervals_on_the_same_resamples():
    y, proba, days = _sample(3, 2_000, 40)
    ours = metric_intervals(y, proba, days, n_boot=200, seed=5)
    theirs = classification_intervals(y, {"model": proba}, days, n_boot=200, seed=5)
    assert ours["accuracy"] == theirs["model_accuracy"]
    assert ours["auc_roc_ovr"] == theirs["model_auc"]
    assert ours["macro_f1"]["low"] <= ours["macro_f1"]["estimate"] <= ours["macro_f1"]["high"]
    assert ours["log_loss"]["low"] <= ours["log_loss"]["estimate"] <= ours["log_loss"]["high"]


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 400))
def test_point_metrics_are_the_classification_metrics(seed, n):
    y, _, _ = _sample(seed, n, 3)
    # no zero and no tie: classification_metrics floors and renormalizes before its AUC
    proba = np.random.default_rng(seed).dirichlet([1.0, 1.0, 1.0], n)
    full = classification_metrics(y, proba)
    fast = point_metrics(y, proba)
    for metric, value in fast.items():
        if value is None:
            assert full[metric] is None
        else:
            assert np.isclose(value, full[metric], atol=1e-12), metric

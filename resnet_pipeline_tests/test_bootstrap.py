"""Day-block bootstrap intervals (equal, to the last bit, to the one-resample-at-a-time
reference), the probabilistic Sharpe ratio and the verdict."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from resnet_pipeline.features.labels import compute_labels
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.ml.evaluation.bootstrap import (
    block_length,
    classification_draws,
    classification_intervals,
    day_pair_counts,
    day_units,
    probabilistic_sharpe_ratio,
    sharpe_intervals,
    stationary_indices,
)
from resnet_pipeline.ml.evaluation.stitched_metrics import verdict
from resnet_pipeline.trading.performance import sharpe
from resnet_pipeline_tests._reference_bootstrap import (
    reference_classification_draws,
    reference_classification_intervals,
)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), block=st.floats(1, 10), seed=st.integers(0, 100))
def test_stationary_indices_are_wrapped_runs_of_consecutive_positions(n, block, seed):
    picks = stationary_indices(n, block, 20, seed)
    assert picks.shape == (20, n) and picks.min() >= 0 and picks.max() < n
    steps = (np.diff(picks, axis=1) % n) == 1
    if block == 1:
        return
    assert steps.mean() > 0  # blocks continue; with block 1 every position is a fresh start


def test_mean_block_length_is_the_stated_one():
    picks = stationary_indices(1000, 8.0, 50, seed=3)
    continued = ((np.diff(picks, axis=1) % 1000) == 1).mean()
    assert abs(1 / (1 - continued) - 8.0) < 0.5
    assert block_length(365) == 7 and block_length(30) == 3 and block_length(1) == 1


def _planted(n_days: int, per_day: int, accuracy: float, seed: int):
    """Labels and probabilities whose argmax is right with probability ``accuracy`` on
    average, with day-to-day swings (dependence inside a day, as in minute data)."""
    rng = np.random.default_rng(seed)
    day_rate = np.clip(accuracy + rng.normal(0, 0.08, n_days), 0, 1)
    y = rng.integers(0, 3, n_days * per_day)
    right = rng.random(len(y)) < np.repeat(day_rate, per_day)
    guess = np.where(right, y, (y + rng.integers(1, 3, len(y))) % 3)
    proba = np.full((len(y), 3), 0.2)
    proba[np.arange(len(y)), guess] = 0.6
    days = np.repeat(np.arange(n_days), per_day)
    return y, proba, days


def test_intervals_cover_a_planted_accuracy_about_95_percent_of_the_time():
    covered = 0
    trials = 40
    for seed in range(trials):
        y, proba, days = _planted(60, 50, 0.6, seed)
        out = classification_intervals(y, {"model": proba}, days, n_boot=300, seed=seed)
        low, high = out["model_accuracy"]["low"], out["model_accuracy"]["high"]
        covered += low <= 0.6 <= high
    assert covered >= 0.85 * trials  # nominal 95%


def test_minute_level_resampling_would_be_too_narrow():
    """Why days are the unit: the same data resampled minute by minute gives a far narrower
    (over-confident) interval than resampling days."""
    y, proba, days = _planted(60, 200, 0.6, 0)
    by_day = classification_intervals(y, {"model": proba}, days, n_boot=300)
    by_minute = classification_intervals(y, {"model": proba}, np.arange(len(y)), n_boot=300)
    width = lambda r: r["model_accuracy"]["high"] - r["model_accuracy"]["low"]  # noqa: E731
    assert width(by_day) > 1.5 * width(by_minute)


def test_sharpe_intervals_cover_a_planted_sharpe_and_zero_without_edge():
    mu, sd = 0.002, 0.01
    true = mu / sd * math.sqrt(365)
    covered = zero_covered = 0
    trials = 40
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        out = sharpe_intervals(rng.normal(mu, sd, 365), n_boot=400, seed=seed)["sharpe"]
        covered += out["low"] <= true <= out["high"]
        flat = sharpe_intervals(rng.normal(0, sd, 365), n_boot=400, seed=seed)["sharpe"]
        zero_covered += flat["low"] <= 0 <= flat["high"]
    assert covered >= 0.85 * trials and zero_covered >= 0.85 * trials


def test_probabilistic_sharpe_ratio_matches_the_normal_case_formula():
    rng = np.random.default_rng(0)
    returns = rng.normal(0.001, 0.01, 400)
    sr = returns.mean() / returns.std(ddof=1)
    skew, kurt = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    z = sr * math.sqrt(399) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert probabilistic_sharpe_ratio(returns) == float(stats.norm.cdf(z))
    assert probabilistic_sharpe_ratio(rng.normal(0.01, 0.01, 200)) > 0.99
    assert probabilistic_sharpe_ratio(np.zeros(10)) is None


def _synthetic_labels(days: int) -> tuple[np.ndarray, np.ndarray]:
    start = pd.Timestamp("2024-03-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    labels = compute_labels(candles).dropna()
    return labels["label"].to_numpy(np.int64), labels["timestamp"].dt.floor("D").to_numpy()


def test_no_edge_model_on_the_synthetic_market_gets_intervals_around_zero_and_no_edge():
    """A model that knows only the class prior (plus noise) on the synthetic market: its
    differences to the baselines contain 0, its AUC interval contains 0.5, the verdict says
    no edge."""
    y, days = _synthetic_labels(20)
    rng = np.random.default_rng(0)
    prior = np.bincount(y, minlength=3) / len(y)
    model = np.clip(prior + rng.normal(0, 0.02, (len(y), 3)), 1e-3, None)
    model /= model.sum(axis=1, keepdims=True)
    majority = np.tile(prior, (len(y), 1))
    out = classification_intervals(y, {"model": model, "majority": majority}, days, n_boot=300)
    for key in ("model_minus_majority_accuracy", "model_minus_majority_auc"):
        assert out[key]["low"] <= 0 <= out[key]["high"], (key, out[key])
    assert out["model_auc"]["low"] <= 0.5 <= out["model_auc"]["high"]
    trading = sharpe_intervals(rng.normal(0, 0.01, 20), n_boot=300)
    decided = verdict(out | {"model_minus_logistic_auc": out["model_minus_majority_auc"]}, trading)
    assert not decided.edge
    assert decided.line.startswith("no edge detected at 95%: ")


def test_verdict_says_edge_only_when_every_lower_bound_clears_zero():
    clear = {"low": 0.01, "high": 0.05, "estimate": 0.03}
    classification = {"model_minus_majority_accuracy": clear, "model_minus_logistic_auc": clear}
    assert verdict(classification, {"sharpe": clear}).edge
    weak = {"low": -0.2, "high": 1.0, "estimate": 0.4}
    decided = verdict(classification, {"sharpe": weak})
    assert not decided.edge and "Sharpe after costs over 0" in decided.line
    decided = verdict(classification, {"sharpe": {"low": None, "high": None}})
    assert "undefined" in decided.line


def _classification_case(seed: int, n_days: int, per_day: int, tie_decimals: int | None):
    """Labels, three predictors (one constant per day block, as the majority baseline is per
    fold; one optionally rounded, so scores tie) and days, some days missing from the run."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, n_days, n_days * per_day)) * 7 + 3  # sparse day codes
    n = len(days)
    y = rng.integers(0, 3, n)
    model = rng.dirichlet([1, 1, 1], n)
    if tie_decimals is not None:
        model = np.round(model, tie_decimals)
    majority = np.tile([0.2, 0.3, 0.5], (n, 1))
    majority[days > np.median(days)] = [0.4, 0.4, 0.2]
    logistic = rng.dirichlet([3, 3, 3], n)
    return y, {"model": model, "majority": majority, "logistic": logistic}, days


@settings(max_examples=30, deadline=None)
@example(seed=1, n_days=25, per_day=2, tie_decimals=1, two_classes=False)  # per sample
@example(seed=2, n_days=5, per_day=60, tie_decimals=1, two_classes=False)  # per day pair
@given(
    seed=st.integers(0, 10_000),
    n_days=st.integers(1, 25),
    per_day=st.integers(1, 60),
    tie_decimals=st.sampled_from([None, 1, 2]),
    two_classes=st.booleans(),
)
def test_vectorized_bootstrap_equals_one_resample_at_a_time(
    seed, n_days, per_day, tie_decimals, two_classes
):
    """Every resampled accuracy and AUC, the estimates and the intervals are exactly those of
    the plain loop that weights every sample, resample by resample (both the day-pair path,
    few days with many samples, and the sample path, many days with few, are drawn)."""
    y, proba, days = _classification_case(seed, n_days, per_day, tie_decimals)
    if two_classes:
        y = y % 2  # one class never occurs: AUC is undefined, accuracy is not
    estimates, draws = classification_draws(y, proba, days, 60, seed)
    expected_estimates, expected_draws = reference_classification_draws(y, proba, days, 60, seed)
    assert estimates.keys() == expected_estimates.keys()
    for key, value in estimates.items():
        assert value == expected_estimates[key] or (
            math.isnan(value) and math.isnan(expected_estimates[key])
        )
        assert np.array_equal(draws[key], expected_draws[key], equal_nan=True), key
    assert classification_intervals(
        y, proba, days, n_boot=60, seed=seed
    ) == reference_classification_intervals(y, proba, days, n_boot=60, seed=seed)


def test_day_pair_counts_equal_comparing_every_pair_over_a_year_of_days():
    """366 days, many blocks of samples, tied scores: the pair counts the pooled report's
    AUC rests on, against comparing every positive with every negative."""
    rng = np.random.default_rng(5)
    unit = rng.integers(0, 366, 3000)
    score = np.round(rng.random(3000), 2)
    positive = rng.random(3000) < 0.35
    wins = score[positive][:, None] > score[~positive][None, :]
    ties = score[positive][:, None] == score[~positive][None, :]
    expected = np.zeros((366, 366))
    np.add.at(
        expected,
        (unit[positive][:, None].repeat((~positive).sum(), 1), unit[~positive][None, :]),
        wins + 0.5 * ties,
    )
    assert np.array_equal(day_pair_counts(score, positive, unit, 366), expected)


def test_day_pair_counts_count_each_pair_once_and_ties_half():
    score = np.array([0.1, 0.5, 0.5, 0.9, 0.3, 0.5])
    positive = np.array([False, True, False, True, False, True])
    unit = np.array([0, 0, 1, 1, 2, 2])
    expected = np.zeros((3, 3))
    for i in np.flatnonzero(positive):
        for j in np.flatnonzero(~positive):
            expected[unit[i], unit[j]] += (
                1.0 if score[i] > score[j] else 0.5 * (score[i] == score[j])
            )
    assert np.array_equal(day_pair_counts(score, positive, unit, 3), expected)


def test_days_may_be_timestamps_and_are_numbered_in_time_order():
    stamps = pd.Series(pd.to_datetime(["2024-03-02", "2024-03-01", "2024-03-02"], utc=True))
    unit, n_days = day_units(stamps.dt.floor("D").to_numpy())  # object Timestamps
    assert (unit.tolist(), n_days) == ([1, 0, 1], 2)
    with pytest.raises(ValueError, match="no day"):
        day_units(np.array(["2024-03-01", None], dtype=object))


def test_the_sharpe_interval_estimate_is_the_trading_metrics_sharpe():
    returns = np.random.default_rng(2).normal(0.001, 0.01, 60)
    out = sharpe_intervals(returns, returns * 0.5, n_boot=50)
    assert out["sharpe"]["estimate"] == sharpe(pd.Series(returns))
    assert out["sharpe_minus_buy_and_hold"]["estimate"] == sharpe(returns) - sharpe(returns * 0.5)

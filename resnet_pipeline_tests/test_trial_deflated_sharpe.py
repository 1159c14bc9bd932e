"""The deflated Sharpe ratio (Bailey & López de Prado 2014) against the paper's numerical example
and an independent computation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from resnet_pipeline.ml.evaluation.bootstrap import probabilistic_sharpe_ratio
from resnet_pipeline.ml.trial_statistics.deflated_sharpe import (
    deflated_sharpe_from_moments,
    deflated_sharpe_of_trials,
    deflated_sharpe_ratio,
    expected_max_sharpe,
)
from resnet_pipeline.ml.trial_statistics.returns_matrix import returns_matrix

EULER_MASCHERONI = 0.5772156649015329


def test_reproduces_the_papers_numerical_example():
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", section "A numerical
    example": N = 100 trials whose annualized Sharpe ratios vary with variance 1/2, the best
    has an annualized Sharpe of 2.5 over 5 years of daily returns (T = 1250, 250 a year),
    skewness -3 and kurtosis 10. Published: expected maximum Sharpe 0.1132 (per day) and
    DSR 0.9004."""
    result = deflated_sharpe_from_moments(
        sharpe=2.5 / math.sqrt(250),
        days=1250,
        skewness=-3.0,
        kurtosis=10.0,
        n_trials=100,
        trial_sharpe_variance=0.5 / 250,
    )
    assert round(result.expected_max_sharpe, 4) == 0.1132
    assert round(result.value, 4) == 0.9004
    assert result.reason is None


def _independent_dsr(returns: np.ndarray, n_trials: int, variance: float) -> float:
    sr = returns.mean() / returns.std(ddof=1)
    g3 = stats.skew(returns)
    g4 = stats.kurtosis(returns, fisher=False)
    sr0 = math.sqrt(variance) * (
        (1 - EULER_MASCHERONI) * stats.norm.ppf(1 - 1 / n_trials)
        + EULER_MASCHERONI * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    z = (sr - sr0) * math.sqrt(len(returns) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_trials=st.integers(2, 200), days=st.integers(30, 400))
def test_equals_an_independent_computation_on_skewed_returns(seed, n_trials, days):
    rng = np.random.default_rng(seed)
    returns = rng.gamma(2.0, 0.01, days) - 0.018  # skewed, fat right tail
    variance = float(rng.uniform(1e-4, 1e-2))
    result = deflated_sharpe_ratio(returns, n_trials, variance)
    assert result.value == pytest.approx(_independent_dsr(returns, n_trials, variance), abs=1e-12)
    assert result.days == days and result.n_trials == n_trials


def test_one_trial_is_the_probabilistic_sharpe_ratio_against_zero():
    returns = np.random.default_rng(1).normal(0.001, 0.01, 300)
    result = deflated_sharpe_ratio(returns, n_trials=1, trial_sharpe_variance=None)
    assert result.expected_max_sharpe == 0.0
    assert result.value == pytest.approx(probabilistic_sharpe_ratio(returns), abs=1e-12)


def test_identical_trial_sharpes_deflate_nothing():
    returns = np.random.default_rng(2).normal(0.001, 0.01, 300)
    result = deflated_sharpe_ratio(returns, n_trials=5, trial_sharpe_variance=0.0)
    assert result.expected_max_sharpe == 0.0
    assert result.value == pytest.approx(probabilistic_sharpe_ratio(returns), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 500), variance=st.floats(1e-6, 1e-1))
def test_more_trials_raise_the_bar_and_lower_the_dsr(seed, n, variance):
    returns = np.random.default_rng(seed).normal(0.001, 0.01, 200)
    fewer = deflated_sharpe_ratio(returns, n, variance)
    more = deflated_sharpe_ratio(returns, n + 1, variance)
    assert more.expected_max_sharpe > fewer.expected_max_sharpe
    assert more.value <= fewer.value
    assert 0.0 <= more.value <= 1.0


def test_expected_maximum_scales_with_the_spread_of_trial_sharpes():
    assert expected_max_sharpe(1, 4.0) == 0.0
    assert expected_max_sharpe(30, 4.0) == pytest.approx(2 * expected_max_sharpe(30, 1.0))
    with pytest.raises(ValueError, match="at least 1 trial"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        expected_max_sharpe(3, -1.0)


def test_undefined_cases_say_why():
    short = deflated_sharpe_ratio(np.array([0.01, -0.02]), 10, 0.01)
    assert short.value is None and "2 days of returns, need at least 3" in short.reason
    flat = deflated_sharpe_ratio(np.zeros(50), 10, 0.01)
    assert flat.value is None and "never vary" in flat.reason
    no_variance = deflated_sharpe_ratio(np.random.default_rng(0).normal(0, 1, 50), 10, None)
    assert no_variance.value is None and "variance" in no_variance.reason
    # two-valued returns can put 1 - g3 SR + (g4 - 1)/4 SR^2 at 0: the error is undefined
    degenerate = deflated_sharpe_from_moments(1.0, 100, 2.0, 5.0, 10, 0.01)
    assert degenerate.value is None and "standard error is undefined" in degenerate.reason


def test_of_trials_picks_the_best_column_and_counts_every_trial():
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.01, (400, 6))
    values[:, 4] += 0.002
    values[:, 5] = 0.0  # never trades: counted in N, no Sharpe ratio
    result = deflated_sharpe_of_trials(returns_matrix(values))
    sharpes = values[:, :5].mean(0) / values[:, :5].std(0, ddof=1)
    assert result.best_variant == "variant_4" and result.n_trials == 6
    assert result.trials_without_sharpe == 1
    assert result.trial_sharpe_variance == pytest.approx(np.var(sharpes, ddof=1))
    expected = _independent_dsr(values[:, 4], 6, float(np.var(sharpes, ddof=1)))
    assert result.value == pytest.approx(expected, abs=1e-12)


def test_of_trials_without_two_defined_sharpes_is_undefined():
    values = np.zeros((100, 3))
    values[:, 0] = np.random.default_rng(4).normal(0.001, 0.01, 100)
    result = deflated_sharpe_of_trials(returns_matrix(values))
    assert result.value is None and "only 1 of 3 trials has a Sharpe ratio" in result.reason
    assert result.reason.startswith("variant_1 and variant_2 never traded")  # named, plainly
    assert "variance" not in result.reason
    assert result.best_variant == "variant_0"
    nothing = deflated_sharpe_of_trials(returns_matrix(np.zeros((100, 3))))
    assert nothing.value is None and "none of the 3 trials" in nothing.reason
    assert "variant_0, variant_1 and variant_2 never traded" in nothing.reason

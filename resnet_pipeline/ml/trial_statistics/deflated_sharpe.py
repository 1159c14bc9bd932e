"""The deflated Sharpe ratio: the probability that the best of N trials has a true Sharpe ratio
above the best that N skill-less trials would show by luck.

Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for Selection
Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 94-107:
the expected maximum Sharpe ratio of N independent trials (their false strategy theorem, SR0
below) and DSR = PSR(SR0), the probabilistic Sharpe ratio (Bailey & López de Prado 2012)
against it. As in SPEC 14, on the daily returns of the best variant (T days), per-day Sharpe
ratios (mean / standard deviation with ddof 1, not annualized), sample skewness g3 and
non-excess kurtosis g4 (scipy's biased moment estimators):

    SR0 = sqrt(Var[SR_n]) * ((1 - gamma) * Z(1 - 1/N) + gamma * Z(1 - 1/(N * e)))
    DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2))

with gamma the Euler-Mascheroni constant, e Euler's number, Z the standard normal quantile and
Phi its distribution function. Var[SR_n] is the sample variance (ddof 1) of the trials' per-day
Sharpe ratios.

Edge cases, each with a stated result:
- N = 1: no selection, SR0 = 0 and the DSR is the PSR against 0 (Z(0) would be -infinity).
- Var[SR_n] = 0 (N identical Sharpe ratios): the formula gives SR0 = 0, the same as one trial.
- Var[SR_n] undefined (N >= 2 but fewer than 2 trials with a defined Sharpe ratio): DSR None.
- T < 3 days, or the best variant's returns never vary (Sharpe undefined): DSR None.
- 1 - g3 * SR + (g4 - 1) / 4 * SR^2 <= 0 (possible only for two-valued returns): DSR None.
A trial that never traded (daily returns all 0) counts in N but has no Sharpe ratio, so it is
left out of Var[SR_n]; the result says how many were left out. (A column of one non-zero value
every day never gets here: ``returns_matrix`` refuses it.)

Phi(z) < 1 for every finite z, but a float rounds Phi(9) to 1; the DSR keeps the largest float
below 1 there, so it never reads as certainty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

from resnet_pipeline.ml.trial_statistics.returns_matrix import (
    ReturnsMatrix,
    per_day_sharpe,
)

MIN_DAYS = 3
BELOW_ONE = math.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class DeflatedSharpe:
    """``value``: the DSR, a probability; None with ``reason`` when undefined. Sharpe ratios
    are per day."""

    value: float | None
    reason: str | None
    n_trials: int
    days: int
    sharpe: float | None = None
    expected_max_sharpe: float | None = None
    trial_sharpe_variance: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None
    best_variant: str | None = None
    trials_without_sharpe: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def expected_max_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """SR0: the expected maximum of ``n_trials`` Sharpe ratios of skill-less trials whose
    Sharpe ratios vary with ``trial_sharpe_variance`` (0 for a single trial)."""
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials}: a verdict needs at least 1 trial")
    if not trial_sharpe_variance >= 0:
        raise ValueError(f"trial_sharpe_variance={trial_sharpe_variance}: must be >= 0")
    if n_trials == 1:
        return 0.0
    gamma = np.euler_gamma
    quantiles = (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials) + gamma * stats.norm.ppf(
        1 - 1 / (n_trials * math.e)
    )
    return float(math.sqrt(trial_sharpe_variance) * quantiles)


def deflated_sharpe_from_moments(
    sharpe: float,
    days: int,
    skewness: float,
    kurtosis: float,
    n_trials: int,
    trial_sharpe_variance: float | None,
) -> DeflatedSharpe:
    """The DSR from the best trial's per-day ``sharpe`` over ``days`` daily returns with
    ``skewness`` and non-excess ``kurtosis``; ``trial_sharpe_variance`` may be None only for
    one trial."""
    result = DeflatedSharpe(
        None,
        None,
        n_trials,
        days,
        sharpe=sharpe,
        trial_sharpe_variance=trial_sharpe_variance,
        skewness=skewness,
        kurtosis=kurtosis,
    )
    if days < MIN_DAYS:
        return replace(result, reason=_too_few_days(days))
    if trial_sharpe_variance is None and n_trials > 1:
        reason = f"the variance of the Sharpe ratios of {n_trials} trials is undefined"
        return replace(result, reason=reason)
    sr0 = expected_max_sharpe(n_trials, trial_sharpe_variance or 0.0)
    result = replace(result, expected_max_sharpe=sr0)
    spread = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not spread > 0:
        reason = (
            f"1 - g3 SR + (g4 - 1)/4 SR^2 = {spread:.3g} <= 0 (skewness {skewness:.3g}, "
            f"kurtosis {kurtosis:.3g}): the Sharpe ratio's standard error is undefined"
        )
        return replace(result, reason=reason)
    z = (sharpe - sr0) * math.sqrt(days - 1) / math.sqrt(spread)
    return replace(result, value=min(float(stats.norm.cdf(z)), BELOW_ONE))


def deflated_sharpe_ratio(
    best_returns: np.ndarray, n_trials: int, trial_sharpe_variance: float | None
) -> DeflatedSharpe:
    """The DSR of the selected trial's daily returns (one per day, in order)."""
    returns = np.asarray(best_returns, np.float64)
    days = len(returns)
    if days < MIN_DAYS:
        return DeflatedSharpe(None, _too_few_days(days), n_trials, days)
    sharpe = float(per_day_sharpe(returns[:, None])[0])
    if math.isnan(sharpe):
        reason = "the best variant's daily returns never vary: its Sharpe ratio is undefined"
        return DeflatedSharpe(None, reason, n_trials, days)
    skewness = float(stats.skew(returns))
    kurtosis = float(stats.kurtosis(returns, fisher=False))
    return deflated_sharpe_from_moments(
        sharpe, days, skewness, kurtosis, n_trials, trial_sharpe_variance
    )


def deflated_sharpe_of_trials(matrix: ReturnsMatrix, n_trials: int | None = None) -> DeflatedSharpe:
    """The DSR of the variant with the highest per-day Sharpe ratio; N = ``n_trials`` (every
    trial made, when some have no returns to compare, e.g. abandoned before their last fold),
    else every column."""
    n = _trial_count(matrix, n_trials)
    if matrix.n_days < MIN_DAYS:
        return DeflatedSharpe(None, _too_few_days(matrix.n_days), n, matrix.n_days)
    sharpes = per_day_sharpe(matrix.values)
    defined = np.isfinite(sharpes)
    with_sharpe = int(defined.sum())
    empty = DeflatedSharpe(None, None, n, matrix.n_days, trials_without_sharpe=n - with_sharpe)
    if not with_sharpe:
        reason = f"none of the {n} trials has a Sharpe ratio: {_without_sharpe(matrix, defined)}"
        return replace(empty, reason=reason)
    best = int(np.nanargmax(sharpes))
    named = {"best_variant": matrix.names[best], "trials_without_sharpe": n - with_sharpe}
    if n > 1 and with_sharpe < 2:
        reason = (
            f"{_without_sharpe(matrix, defined)}, so only {with_sharpe} of {n} trials has a "
            "Sharpe ratio; the deflated Sharpe needs the spread of at least 2"
        )
        return replace(empty, reason=reason, **named)
    variance = float(np.var(sharpes[defined], ddof=1)) if n > 1 else None
    return replace(deflated_sharpe_ratio(matrix.values[:, best], n, variance), **named)


NAMED = 5  # trials named in a reason; the rest are counted


def _names(names: list[str]) -> str:
    shown = names[:NAMED] + ([f"{len(names) - NAMED} more"] if len(names) > NAMED else [])
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _without_sharpe(matrix: ReturnsMatrix, defined: np.ndarray) -> str:
    """Which trials have no Sharpe ratio, in words: 'window-48 never traded (daily returns all
    0)' (``returns_matrix`` refuses every other column without one)."""
    idle = [matrix.names[k] for k in range(matrix.n_variants) if not defined[k]]
    return f"{_names(idle)} never traded (daily returns all 0)"


def _trial_count(matrix: ReturnsMatrix, n_trials: int | None) -> int:
    if n_trials is None:
        return matrix.n_variants
    if n_trials < matrix.n_variants:
        raise ValueError(
            f"n_trials={n_trials} is below the {matrix.n_variants} trials whose returns were "
            "given: N counts every trial made, at least every column"
        )
    return n_trials


def _too_few_days(days: int) -> str:
    return f"{days} days of returns, need at least {MIN_DAYS} (skewness and kurtosis)"

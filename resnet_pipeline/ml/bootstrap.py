"""Block-bootstrap 95% intervals for out-of-sample metrics, and the probabilistic Sharpe ratio.

Minute outcomes are not independent: consecutive labels share 11 of their 12 future minutes
and volatility clusters for hours. Resampling single minutes would make intervals far too
narrow, so the resampled unit is a whole UTC day, and days are drawn with the stationary
bootstrap (Politis & Romano 1994: blocks of consecutive days with geometric lengths, wrapping
around) with expected block length ``n_days ** (1/3)`` days (the order Politis & White 2004
show is optimal), at least one day. Daily strategy returns use the same rule on their own
series. Every metric and every model-minus-baseline difference in one resample uses the same
days (paired), and intervals are percentile intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

DAYS_PER_YEAR = 365
BLOCK_RULE = "stationary bootstrap over whole UTC days, expected block length n_days^(1/3)"


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}

    def above(self, value: float = 0.0) -> bool:
        return self.low is not None and self.low > value


def block_length(n_units: int) -> int:
    """Expected block length (in units, e.g. days) for ``n_units`` dependent units."""
    return max(1, int(round(n_units ** (1 / 3))))


def stationary_indices(n: int, block: float, n_boot: int, seed: int = 0) -> np.ndarray:
    """[n_boot, n] resampled positions: blocks start uniformly, continue with probability
    1 - 1/block, and wrap around the end."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, (n_boot, n))
    new_block = rng.random((n_boot, n)) < 1.0 / block
    new_block[:, 0] = True
    position = np.arange(n)[None, :].repeat(n_boot, 0)
    block_start = np.maximum.accumulate(np.where(new_block, position, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    return (first + position - block_start) % n


def _interval(estimate: float | None, draws: np.ndarray, level: float = 0.95) -> Interval:
    draws = draws[np.isfinite(draws)]
    if estimate is None or not math.isfinite(estimate) or len(draws) < 10:
        return Interval(None if estimate is None else float(estimate), None, None)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


class _WeightedAUC:
    """Macro one-vs-rest AUC under sample weights (ties count one half), O(n) per call:
    scores are ranked once, each resample only re-weights them."""

    def __init__(self, y: np.ndarray, proba: np.ndarray) -> None:
        self.parts = []
        for k in range(proba.shape[1]):
            _, inverse = np.unique(proba[:, k], return_inverse=True)
            self.parts.append((inverse, y == k, int(inverse.max()) + 1 if len(y) else 0))

    def __call__(self, w: np.ndarray) -> float:
        aucs = []
        for inverse, positive, size in self.parts:
            wp = np.bincount(inverse, w * positive, size)
            wn = np.bincount(inverse, w * ~positive, size)
            total_p, total_n = wp.sum(), wn.sum()
            if total_p <= 0 or total_n <= 0:
                return math.nan
            below = np.cumsum(wn) - wn
            aucs.append(float((wp * (below + 0.5 * wn)).sum() / (total_p * total_n)))
        return float(np.mean(aucs))


def classification_intervals(
    y: np.ndarray,
    proba: Mapping[str, np.ndarray],
    days: np.ndarray,
    reference: str = "model",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict]:
    """Accuracy and AUC of each predictor in ``proba`` (name -> [N, K]), and ``reference``
    minus each other predictor, with day-block bootstrap intervals. ``days``: [N] the UTC
    day of each sample (any sortable codes)."""
    y = np.asarray(y, np.int64)
    day_codes, unit = np.unique(np.asarray(days), return_inverse=True)
    n_days = len(day_codes)
    metrics: dict[str, Callable[[np.ndarray], float]] = {}
    for name, p in proba.items():
        p = np.asarray(p, np.float64)
        correct = (p.argmax(1) == y).astype(np.float64)
        metrics[f"{name}_accuracy"] = lambda w, c=correct: float((w * c).sum() / w.sum())
        has_all = len(np.unique(y)) == p.shape[1]
        metrics[f"{name}_auc"] = _WeightedAUC(y, p) if has_all else (lambda w: math.nan)
    ones = np.ones(len(y))
    estimates = {k: f(ones) for k, f in metrics.items()}
    draws = {k: np.empty(n_boot) for k in metrics}
    for b, picks in enumerate(stationary_indices(n_days, block_length(n_days), n_boot, seed)):
        w = np.bincount(picks, minlength=n_days)[unit].astype(np.float64)
        for k, f in metrics.items():
            draws[k][b] = f(w)
    out = {k: _interval(_finite(estimates[k]), draws[k]).to_dict() for k in metrics}
    for other in proba:
        if other == reference:
            continue
        for metric in ("accuracy", "auc"):
            a, b_ = f"{reference}_{metric}", f"{other}_{metric}"
            diff = _finite(estimates[a] - estimates[b_])
            out[f"{reference}_minus_{other}_{metric}"] = _interval(
                diff, draws[a] - draws[b_]
            ).to_dict()
    out["block"] = {"unit": "UTC day", "days": n_days, "expected_length": block_length(n_days)}
    return out


def annualized_sharpe(returns: np.ndarray) -> float | None:
    """Daily returns -> mean / std (ddof 1) x sqrt(365); None when undefined."""
    returns = np.asarray(returns, np.float64)
    if len(returns) < 2:
        return None
    std = returns.std(ddof=1)
    return float(returns.mean() / std * math.sqrt(DAYS_PER_YEAR)) if std > 0 else None


def sharpe_intervals(
    returns: np.ndarray,
    benchmark: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict]:
    """Annualized Sharpe of daily ``returns`` (and minus ``benchmark``'s, same days) with
    stationary-bootstrap intervals."""
    returns = np.asarray(returns, np.float64)
    n = len(returns)
    out: dict[str, dict] = {"block": {"unit": "day", "days": n, "expected_length": None}}
    if n < 3:
        out["sharpe"] = Interval(annualized_sharpe(returns), None, None).to_dict()
        return out
    picks = stationary_indices(n, block_length(n), n_boot, seed)
    out["block"]["expected_length"] = block_length(n)
    sampled = returns[picks]
    draws = _sharpe_rows(sampled)
    out["sharpe"] = _interval(annualized_sharpe(returns), draws).to_dict()
    if benchmark is not None:
        benchmark = np.asarray(benchmark, np.float64)
        base = annualized_sharpe(benchmark)
        estimate = (
            None
            if base is None or out["sharpe"]["estimate"] is None
            else (out["sharpe"]["estimate"] - base)
        )
        out["sharpe_minus_buy_and_hold"] = _interval(
            estimate, draws - _sharpe_rows(benchmark[picks])
        ).to_dict()
    return out


def _sharpe_rows(sampled: np.ndarray) -> np.ndarray:
    std = sampled.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, sampled.mean(axis=1) / std * math.sqrt(DAYS_PER_YEAR), np.nan)


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float | None:
    """P(true Sharpe > ``benchmark_sharpe``) given skew and kurtosis of the daily returns
    (Bailey & Lopez de Prado 2012), on the per-day (not annualized) Sharpe."""
    returns = np.asarray(returns, np.float64)
    n = len(returns)
    std = returns.std(ddof=1) if n > 1 else 0.0
    if n < 3 or not std > 0:
        return None
    sr = returns.mean() / std
    skew = float(stats.skew(returns))
    kurt = float(stats.kurtosis(returns, fisher=False))
    denominator = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    if not denominator > 0:
        return None
    return float(
        stats.norm.cdf((sr - benchmark_sharpe) * math.sqrt(n - 1) / math.sqrt(denominator))
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)

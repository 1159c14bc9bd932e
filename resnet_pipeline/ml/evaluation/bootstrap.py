"""Block-bootstrap 95% intervals for out-of-sample metrics, and the probabilistic Sharpe ratio.

Minute outcomes are not independent: consecutive labels share 11 of their 12 future minutes
and volatility clusters for hours. Resampling single minutes would make intervals far too
narrow, so the resampled unit is a whole UTC day, and days are drawn with the stationary
bootstrap (Politis & Romano 1994: blocks of consecutive days with geometric lengths, wrapping
around) with expected block length ``n_days ** (1/3)`` days (the order Politis & White 2004
show is optimal), at least one day. Daily strategy returns use the same rule on their own
series. Every metric and every model-minus-baseline difference in one resample uses the same
days (paired), and intervals are percentile intervals.

A resample is a row of day weights (how often it drew each day), so all resamples are
computed at once: accuracy from right answers per day, AUC from the counts of (positive,
negative) pairs per pair of days, each a matrix product with the weights. The counts are
integers, so the results equal, to the last bit, weighting every sample one resample at a
time (the tests keep that loop as the reference).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from resnet_pipeline.trading.performance import annualized_sharpe, sharpe

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


def interval_of(estimate: float | None, draws: np.ndarray, level: float = 0.95) -> Interval:
    """Percentile interval of the finite ``draws`` (none with fewer than 10 of them)."""
    draws = draws[np.isfinite(draws)]
    if estimate is None or not math.isfinite(estimate) or len(draws) < 10:
        return Interval(None if estimate is None else float(estimate), None, None)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


def day_weights(picks: np.ndarray, n_days: int) -> np.ndarray:
    """[n_boot, n_days] how often each resample of ``stationary_indices`` drew each day."""
    n_boot = len(picks)
    flat = (picks + n_days * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_days)
    return counts.reshape(n_boot, n_days).astype(np.float64)


def _accuracies(correct: np.ndarray, unit: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted accuracy per row of day ``weights``: right answers and samples per day."""
    n_days = weights.shape[1]
    right = np.bincount(unit, correct.astype(np.float64), n_days)
    samples = np.bincount(unit, minlength=n_days).astype(np.float64)
    return (weights @ right) / (weights @ samples)


def _macro_auc(
    y: np.ndarray, proba: np.ndarray, unit: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Macro one-vs-rest AUC per row of day ``weights`` (NaN where a class has no weight).

    Each class's AUC is its weighted Mann-Whitney sum over (positive, negative) pairs, ties
    one half, over the product of the two classes' total weights. Every sum is of integers
    and halves far below 2**53, so each resample's AUC is exactly the one weighting the
    samples one resample at a time gives, whatever the order of summation."""
    n_days = weights.shape[1]
    aucs = []
    for k in range(proba.shape[1]):
        positive = y == k
        total_p = weights @ np.bincount(unit, positive.astype(np.float64), n_days)
        total_n = weights @ np.bincount(unit, (~positive).astype(np.float64), n_days)
        if np.ptp(proba[:, k]) == 0:  # every pair ties (a constant baseline): one half each
            wins = 0.5 * total_p * total_n
        elif _day_pairs_are_cheaper(len(y), n_days, len(weights)):
            pairs = day_pair_counts(proba[:, k], positive, unit, n_days)
            wins = ((weights @ pairs) * weights).sum(axis=1)
        else:
            wins = _weighted_wins(proba[:, k], positive, unit, weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = wins / (total_p * total_n)
        aucs.append(np.where((total_p > 0) & (total_n > 0), auc, np.nan))
    return np.mean(np.stack(aucs), axis=0)


def _day_pairs_are_cheaper(n_samples: int, n_days: int, n_rows: int) -> bool:
    """Rough element-operation counts of the two exact ways: the day-pair matrix (built over
    blocks, then one quadratic form per row) or every row over every sample."""
    day_pairs = n_samples * n_days + 2 * n_rows * n_days * n_days
    return day_pairs < 10 * n_rows * n_samples


def _weighted_wins(
    score: np.ndarray, positive: np.ndarray, unit: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """The Mann-Whitney sum per row of day ``weights``, sample by sample (for many days with
    few samples each, where the day-pair matrix would be larger than the data)."""
    order = np.lexsort((positive, score))  # negatives first among equal scores
    ranked, positive, unit = score[order], positive[order], unit[order]
    ties = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    wins = np.empty(len(weights))
    rows = max(1, _CHUNK_CELLS // max(len(order), 1))
    for first in range(0, len(weights), rows):
        w = weights[first : first + rows][:, unit]
        wp = np.where(positive, w, 0.0)
        wn = w - wp
        ahead = (wp * (np.cumsum(wn, axis=1) - wn)).sum(axis=1)  # ties counted whole here
        tied = (np.add.reduceat(wp, ties, axis=1) * np.add.reduceat(wn, ties, axis=1)).sum(1)
        wins[first : first + rows] = ahead - 0.5 * tied
    return wins


_CHUNK_CELLS = 1 << 22  # resamples x samples held at once by ``_weighted_wins``
_PAIR_BLOCK = 64  # samples per block: pairs inside a block are listed, across blocks counted


def day_pair_counts(
    score: np.ndarray, positive: np.ndarray, unit: np.ndarray, n_days: int
) -> np.ndarray:
    """[n_days, n_days] the number of (positive of day d, negative of day d') pairs whose
    positive scores higher, plus one half per pair scoring the same.

    Samples are put in score order, negatives before positives of the same score, and cut
    into blocks of ``_PAIR_BLOCK``: a positive beats every negative of the blocks before its
    own (a sparse product of positives per block and day with the running count of
    negatives per day), and the pairs inside a block are listed. Equal scores were counted
    there as whole pairs and lose their half at the end."""
    order = np.lexsort((positive, score))
    ranked = score[order]
    rank = np.concatenate(([0], np.cumsum(ranked[1:] != ranked[:-1])))
    positive, unit = positive[order], unit[order]
    blocks = -(-len(order) // _PAIR_BLOCK)
    block = np.arange(len(order)) // _PAIR_BLOCK
    negatives = np.bincount(block * n_days + unit, ~positive, blocks * n_days)
    running = np.cumsum(negatives.reshape(blocks, n_days), axis=0)  # [block, day] up to it
    later = positive & (block > 0)  # a positive of block b beats the running count of b - 1
    positives = sparse.csc_matrix(
        (np.ones(int(later.sum())), (unit[later], block[later] - 1)), shape=(n_days, blocks)
    )
    counts = np.asarray(positives @ running)
    counts += _pairs_inside_blocks(positive, unit, block, n_days)
    return counts - 0.5 * _tied_pairs(rank, positive, unit, n_days)


def _pairs_inside_blocks(
    positive: np.ndarray, unit: np.ndarray, block: np.ndarray, n_days: int
) -> np.ndarray:
    """[n_days, n_days] (positive, earlier negative of the same block) pairs, in score order."""
    negative = ~positive
    negatives_before = np.cumsum(negative) - negative  # at each position
    at_block_start = negatives_before[block * _PAIR_BLOCK]
    winners = np.flatnonzero(positive)
    first = at_block_start[winners]  # the block's first negative, among all negatives
    beaten = negatives_before[winners] - first  # how many negatives precede it in its block
    starts = np.cumsum(beaten) - beaten
    offset = np.arange(int(beaten.sum())) - np.repeat(starts, beaten)
    losers = np.flatnonzero(negative)[np.repeat(first, beaten) + offset]
    keys = np.repeat(unit[winners], beaten) * n_days + unit[losers]
    return np.bincount(keys, minlength=n_days * n_days).reshape(n_days, n_days)


def _tied_pairs(
    rank: np.ndarray, positive: np.ndarray, unit: np.ndarray, n_days: int
) -> np.ndarray:
    """[n_days, n_days] (positive of day d, negative of day d') pairs with the same rank."""
    shared = np.bincount(rank)[rank] > 1
    if not shared.any():
        return np.zeros((n_days, n_days))
    shape = (int(rank[-1]) + 1, n_days)
    rank, days = rank[shared], unit[shared]

    def per_rank(flags: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((flags.astype(np.float64), (rank, days)), shape=shape)

    return (per_rank(positive[shared]).T @ per_rank(~positive[shared])).toarray()


def day_units(days: np.ndarray) -> tuple[np.ndarray, int]:
    """[N] each sample's day as 0..n_days-1 in sorted order, and n_days. Days may be any
    sortable codes, Timestamps included (factorized by pandas: ``np.unique`` compares
    Timestamp objects one by one in Python)."""
    unit, codes = pd.factorize(pd.Index(days), sort=True)
    if len(unit) and unit.min() < 0:
        raise ValueError("some samples have no day (NaT / NaN): drop them before bootstrapping")
    return unit, len(codes)


def classification_draws(
    y: np.ndarray, proba: Mapping[str, np.ndarray], days: np.ndarray, n_boot: int, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Accuracy and AUC of each predictor on the sample, and their [n_boot] values under the
    day-block resamples (NaN where undefined)."""
    unit, n_days = day_units(days)
    return _draws(np.asarray(y, np.int64), proba, unit, n_days, n_boot, seed)


def _draws(
    y: np.ndarray,
    proba: Mapping[str, np.ndarray],
    unit: np.ndarray,
    n_days: int,
    n_boot: int,
    seed: int,
    auc_scores: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    picks = stationary_indices(n_days, block_length(n_days), n_boot, seed)
    weights = np.vstack([np.ones((1, n_days)), day_weights(picks, n_days)])  # row 0: as drawn
    values: dict[str, np.ndarray] = {}
    for name, p in proba.items():
        p = np.asarray(p, np.float64)
        values[f"{name}_accuracy"] = _accuracies(p.argmax(1) == y, unit, weights)
        scores = np.asarray((auc_scores or {}).get(name, p), np.float64)
        has_all = len(np.unique(y)) == p.shape[1]
        auc = _macro_auc(y, scores, unit, weights) if has_all else np.full(len(weights), np.nan)
        values[f"{name}_auc"] = auc
    return {k: float(v[0]) for k, v in values.items()}, {k: v[1:] for k, v in values.items()}


def classification_intervals(
    y: np.ndarray,
    proba: Mapping[str, np.ndarray],
    days: np.ndarray,
    reference: str = "model",
    n_boot: int = 1000,
    seed: int = 0,
    auc_scores: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict]:
    """Accuracy and AUC of each predictor in ``proba`` (name -> [N, K]), and ``reference``
    minus each other predictor, with day-block bootstrap intervals. ``days``: [N] the UTC
    day of each sample (any sortable codes). ``auc_scores``: per predictor, other [N, K]
    scores to rank for the AUC (e.g. ranks within each month); accuracy stays the argmax of
    ``proba``."""
    unit, n_days = day_units(days)
    estimates, draws = _draws(
        np.asarray(y, np.int64), proba, unit, n_days, n_boot, seed, auc_scores
    )
    out = intervals_from_draws(estimates, draws, list(proba), reference)
    out["block"] = {"unit": "UTC day", "days": n_days, "expected_length": block_length(n_days)}
    return out


def intervals_from_draws(
    estimates: Mapping[str, float],
    draws: Mapping[str, np.ndarray],
    predictors: list[str],
    reference: str,
) -> dict[str, dict]:
    """Each metric's interval, and ``reference`` minus each other predictor's (paired: the
    same resamples)."""
    out = {k: interval_of(_finite(estimates[k]), draws[k]).to_dict() for k in estimates}
    for other in predictors:
        if other == reference:
            continue
        for metric in ("accuracy", "auc"):
            a, b = f"{reference}_{metric}", f"{other}_{metric}"
            diff = _finite(estimates[a] - estimates[b])
            out[f"{reference}_minus_{other}_{metric}"] = interval_of(
                diff, draws[a] - draws[b]
            ).to_dict()
    return out


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
        out["sharpe"] = Interval(sharpe(returns), None, None).to_dict()
        return out
    picks = stationary_indices(n, block_length(n), n_boot, seed)
    out["block"]["expected_length"] = block_length(n)
    draws = annualized_sharpe(returns[picks])
    out["sharpe"] = interval_of(sharpe(returns), draws).to_dict()
    if benchmark is not None:
        benchmark = np.asarray(benchmark, np.float64)
        base = sharpe(benchmark)
        estimate = (
            None
            if base is None or out["sharpe"]["estimate"] is None
            else (out["sharpe"]["estimate"] - base)
        )
        out["sharpe_minus_buy_and_hold"] = interval_of(
            estimate, draws - annualized_sharpe(benchmark[picks])
        ).to_dict()
    return out


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

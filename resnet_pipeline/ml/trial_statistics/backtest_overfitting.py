"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation.

Bailey, D. H., Borwein, J., López de Prado, M. & Zhu, Q. J. (2017), "The Probability of
Backtest Overfitting", Journal of Computational Finance 20(4), 39-69, the CSCV procedure: the
T x N matrix of daily returns (rows: days, columns: variants) is cut into S equal contiguous
blocks of days; each of the C(S, S/2) ways to pick S/2 blocks as the in-sample half (the rest
is out of sample) selects the variant n* with the best in-sample Sharpe ratio, ranks n* out of
sample among all N (1 = worst .. N = best), and maps the relative rank w = rank / (N + 1) to
the logit l = ln(w / (1 - w)). PBO is the share of halvings with l <= 0: how often the
in-sample winner is no better than the median variant out of sample. The pairs (in-sample,
out-of-sample Sharpe of n*) give the paper's performance degradation: the slope of
out-of-sample on in-sample, and the probability of loss (out-of-sample Sharpe < 0).

Choices stated here: S is even, 16 by default and at most 20 (C(20, 10) = 184,756 halvings); a
block needs at least 2 days, else PBO is undefined (fewer blocks are the caller's explicit
choice, never a silent one); the oldest T mod S days, which do not fill a block, are dropped
and counted. Performance is the per-day Sharpe ratio (ddof 1); a variant whose returns do not
vary within a half (no trades) scores 0 there (infinite when its constant return is not 0).
Tied out-of-sample scores share the mean of their ranks. Block sums of returns and squared
returns are computed once, so every halving costs one matrix product.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from resnet_pipeline.ml.trial_statistics.returns_matrix import ReturnsMatrix, returns_matrix

DEFAULT_BLOCKS = 16
MAX_BLOCKS = 20
MIN_BLOCK_DAYS = 2


@dataclass(frozen=True)
class BacktestOverfitting:
    """``pbo``: None with ``reason`` when undefined. Arrays: one entry per halving."""

    pbo: float | None
    reason: str | None
    blocks: int
    block_days: int
    dropped_days: int
    logits: np.ndarray
    in_sample_sharpe: np.ndarray
    out_of_sample_sharpe: np.ndarray

    @property
    def halvings(self) -> int:
        return int(len(self.logits))

    def to_dict(self) -> dict:
        """Plain values for a report: the logit distribution and the degradation summarized."""
        out = {"pbo": self.pbo, "reason": self.reason, "blocks": self.blocks}
        out |= {"block_days": self.block_days, "dropped_days": self.dropped_days}
        return out | {"halvings": self.halvings} | _summaries(self)


def probability_of_backtest_overfitting(
    returns: ReturnsMatrix | pd.DataFrame | np.ndarray, blocks: int = DEFAULT_BLOCKS
) -> BacktestOverfitting:
    """PBO of the variants' daily returns split into ``blocks`` (S) blocks of days."""
    _check_blocks(blocks)
    matrix = returns if isinstance(returns, ReturnsMatrix) else returns_matrix(returns)
    n_days, n_variants = matrix.values.shape
    block_days = n_days // blocks
    empty = np.empty(0)
    result = BacktestOverfitting(None, None, blocks, block_days, 0, empty, empty, empty)
    if n_variants < 2:
        return replace(result, reason=f"{n_variants} variant: ranking needs at least 2")
    if block_days < MIN_BLOCK_DAYS:
        reason = (
            f"{n_days} days, need at least S = {blocks} blocks of {MIN_BLOCK_DAYS} days "
            f"({blocks * MIN_BLOCK_DAYS} days): evaluate more days or choose fewer blocks"
        )
        return replace(result, reason=reason)
    dropped = n_days - blocks * block_days
    kept = matrix.values[dropped:]
    in_sample, out_of_sample = _half_sharpes(kept.reshape(blocks, block_days, n_variants))
    chosen = in_sample.argmax(axis=1)
    rows = np.arange(len(chosen))
    logits = _rank_logits(out_of_sample, chosen)
    return replace(
        result,
        pbo=float(np.mean(logits <= 0)),
        dropped_days=dropped,
        logits=logits,
        in_sample_sharpe=in_sample[rows, chosen],
        out_of_sample_sharpe=out_of_sample[rows, chosen],
    )


def halving_masks(blocks: int) -> np.ndarray:
    """[C(S, S/2), S] booleans: each row marks the in-sample blocks of one halving."""
    picks = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    masks = np.zeros((len(picks), blocks), bool)
    masks[np.arange(len(picks))[:, None], picks] = True
    return masks


def _check_blocks(blocks: int) -> None:
    if blocks < 2 or blocks % 2 or blocks > MAX_BLOCKS:
        raise ValueError(
            f"blocks={blocks}: CSCV needs an even number of blocks from 2 to {MAX_BLOCKS} "
            f"(the halvings, C(S, S/2), grow fast); {DEFAULT_BLOCKS} is the default"
        )


def _half_sharpes(blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[halvings, N] per-day Sharpe ratios of the in-sample and out-of-sample halves of
    [S, L, N] blocked returns."""
    blocks, block_days, _ = blocked.shape
    center = blocked.reshape(-1, blocked.shape[2]).mean(axis=0)
    deviations = blocked - center
    first = deviations.sum(axis=1)
    second = (deviations**2).sum(axis=1)
    scale = np.abs(blocked).max(axis=(0, 1))
    masks = halving_masks(blocks).astype(np.float64)
    count = blocks // 2 * block_days
    halves = []
    for mask in (masks, 1.0 - masks):
        halves.append(_sharpe_from_sums(mask @ first, mask @ second, count, center, scale))
    return halves[0], halves[1]


def _sharpe_from_sums(
    first: np.ndarray, second: np.ndarray, count: int, center: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Mean / std (ddof 1) from sums of deviations from ``center``; ``scale`` separates a flat
    half (rounding noise) from one that varies."""
    mean_deviation = first / count
    variance = np.maximum(second - count * mean_deviation**2, 0.0) / (count - 1)
    std = np.sqrt(variance)
    mean = mean_deviation + center
    flat = std <= 1e-9 * scale
    mean = np.where(flat & (np.abs(mean) <= 1e-9 * scale), 0.0, mean)
    flat_score = np.where(mean == 0, 0.0, np.copysign(np.inf, mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, flat_score, mean / std)


def _rank_logits(out_of_sample: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """ln(w / (1 - w)) of the chosen variant's out-of-sample rank (ties share the mean rank)."""
    score = out_of_sample[np.arange(len(chosen)), chosen][:, None]
    below = (out_of_sample < score).sum(axis=1)
    tied = (out_of_sample == score).sum(axis=1) - 1
    relative = (1 + below + tied / 2) / (out_of_sample.shape[1] + 1)
    return np.log(relative / (1 - relative))


def _summaries(result: BacktestOverfitting) -> dict:
    if not result.halvings:
        return {"logit": None, "degradation": None}
    q05, median, q95 = np.quantile(result.logits, [0.05, 0.5, 0.95])
    logit = {"mean": float(result.logits.mean()), "median": float(median)}
    logit |= {"q05": float(q05), "q95": float(q95)}
    finite = np.isfinite(result.in_sample_sharpe) & np.isfinite(result.out_of_sample_sharpe)
    x, y = result.in_sample_sharpe[finite], result.out_of_sample_sharpe[finite]
    slope = float(np.polyfit(x, y, 1)[0]) if len(x) > 1 and np.ptp(x) > 0 else math.nan
    degradation = {
        "slope": None if math.isnan(slope) else slope,
        "probability_of_loss": float(np.mean(result.out_of_sample_sharpe < 0)),
    }
    return {"logit": logit, "degradation": degradation}

"""Hansen's test for superior predictive ability (SPA) of the variants over one benchmark.

Hansen, P. R. (2005), "A Test for Superior Predictive Ability", Journal of Business & Economic
Statistics 23(4), 365-380: the null hypothesis is that no variant beats the benchmark; the
statistic is the largest studentized mean loss differential d_k / omega_k over all variants,
so its p-value accounts for the search over all of them. Losses are negative daily returns,
so d_k = variant return - benchmark return. The verdict uses Hansen's consistent p-value:
variants clearly worse than the benchmark (studentized mean below -sqrt(2 ln ln T / T)) keep
their own mean under the null instead of 0, so poor variants do not inflate the p-value. The
upper bound (White's reality check) puts every variant at 0, the lower bound only those at
least as good as the benchmark.

The bootstrap is ``arch.bootstrap.SPA``: the stationary bootstrap (Politis & Romano 1994) with
the project's block rule (``resnet_pipeline.ml.evaluation.bootstrap.BLOCK_RULE``), expected block
length
``block_length(T)`` days, seeded so a report is reproducible. arch (8.0) accepts a
``studentize`` flag but builds its p-values from raw mean differentials, so a quiet variant
that is clearly better would drown in the noise of loud ones; the differentials are therefore
studentized here, each by Hansen's omega_k (the stationary-bootstrap long-run deviation, the
estimator arch uses for its consistency threshold), and handed to arch against a zero benchmark.

A variant whose daily return trails or equals the benchmark's by the same amount every day (a
copy of it, or a copy less a fee) cannot beat it and has omega_k = 0: its bootstrap values
would tie the observed statistic and make the p-values spurious (arch counts only draws
strictly above it). Such variants are left out and named. A variant ahead by the same amount
every day keeps a deviation floored at 1e-9 of the return scale, so it tests as certainly
better. With nothing left, or fewer than 3 days, the p-values are undefined (None + reason).
Where Hansen's statistic is floored at 0, arch compares the unfloored maxima; that changes only
p-values of cases where every variant is worse, which fail the verdict either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from arch.bootstrap import SPA

from resnet_pipeline.ml.evaluation.bootstrap import block_length
from resnet_pipeline.ml.trial_statistics.returns_matrix import (
    FLAT,
    ReturnsMatrix,
    aligned_returns,
    returns_matrix,
)

DEFAULT_REPS = 1000
MIN_DAYS = 3


@dataclass(frozen=True)
class SuperiorPredictiveAbility:
    """p-values of "no variant beats ``benchmark``"; None with ``reason`` when undefined."""

    benchmark: str
    consistent: float | None
    lower: float | None
    upper: float | None
    reason: str | None
    block_size: int
    reps: int
    seed: int
    tested_variants: int = 0
    never_better: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Studentized:
    """The variants' daily lead over a benchmark, each divided by Hansen's omega_k: what arch's
    SPA and StepM get (against a zero benchmark), so both rank the same studentized leads.
    ``reason``: why nothing can be tested (then ``leads`` is empty)."""

    leads: np.ndarray  # [T, tested] (variant - benchmark) / omega_k
    tested: tuple[str, ...]
    never_better: tuple[str, ...]
    block_size: int
    reason: str | None


def studentized_leads(matrix: ReturnsMatrix, base: np.ndarray, benchmark_name: str) -> Studentized:
    """The studentized differentials of every variant that can beat ``base`` (see the module)."""
    block = block_length(matrix.n_days)
    empty = np.empty((matrix.n_days, 0))
    if matrix.n_days < MIN_DAYS:
        return Studentized(empty, (), (), block, f"{matrix.n_days} days, need at least {MIN_DAYS}")
    differentials = matrix.values - base[:, None]
    scale = np.maximum(np.abs(matrix.values).max(axis=0), np.abs(base).max())
    never = _never_better(differentials, scale)
    names = np.array(matrix.names, dtype=object)
    tested, never_better = tuple(names[~never]), tuple(names[never])
    if never.all():
        reason = (
            f"every variant's daily return trails or equals {benchmark_name}'s by the same "
            "amount every day: nothing to test"
        )
        return Studentized(empty, (), never_better, block, reason)
    leads = differentials[:, ~never]
    deviation = np.sqrt(np.maximum(long_run_variance(leads, block), (FLAT * scale[~never]) ** 2))
    return Studentized(leads / deviation, tested, never_better, block, None)


def superior_predictive_ability(
    returns: ReturnsMatrix | pd.DataFrame | np.ndarray,
    benchmark: pd.Series | np.ndarray,
    benchmark_name: str,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
) -> SuperiorPredictiveAbility:
    """SPA of every variant's daily returns against ``benchmark``'s on the same days."""
    matrix = returns if isinstance(returns, ReturnsMatrix) else returns_matrix(returns)
    base = aligned_returns(benchmark, matrix, benchmark_name)
    leads = studentized_leads(matrix, base, benchmark_name)
    result = SuperiorPredictiveAbility(
        benchmark_name,
        None,
        None,
        None,
        leads.reason,
        leads.block_size,
        reps,
        seed,
        tested_variants=len(leads.tested),
        never_better=leads.never_better,
    )
    if leads.reason:
        return result
    test = SPA(
        np.zeros(matrix.n_days), -leads.leads, block_size=leads.block_size, reps=reps, seed=seed
    )
    test.compute()
    return replace(result, **{k: float(v) for k, v in test.pvalues.items()})


def long_run_variance(differentials: np.ndarray, block: float) -> np.ndarray:
    """[N] omega_k^2 of [T, N] differentials: gamma_0 + 2 sum_i kappa(T, i) gamma_i with the
    stationary bootstrap's weights kappa(T, i) = (1 - i/T)(1 - q)^i + (i/T)(1 - q)^(T - i),
    q = 1 / block (Politis & Romano 1994; Hansen 2005's variance estimator)."""
    n = len(differentials)
    centered = differentials - differentials.mean(axis=0)
    spectrum = np.fft.rfft(centered, 2 * n, axis=0)
    autocovariance = np.fft.irfft(spectrum * spectrum.conj(), 2 * n, axis=0)[:n] / n
    lags = np.arange(1, n)
    stay = 1 - 1 / block
    kappa = (1 - lags / n) * stay**lags + (lags / n) * stay ** (n - lags)
    return autocovariance[0] + 2 * (kappa[:, None] * autocovariance[1:]).sum(axis=0)


def _never_better(differentials: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """[N] True where variant minus benchmark is the same every day (up to rounding) and <= 0."""
    constant = np.ptp(differentials, axis=0) <= FLAT * scale
    return constant & (differentials.mean(axis=0) <= FLAT * scale)

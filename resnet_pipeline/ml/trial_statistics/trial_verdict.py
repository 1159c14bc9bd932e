"""The verdict of an experiment that counts every trial (SPEC 14).

"edge after N trials at 95%" only when all hold: the deflated Sharpe ratio of the best variant
is at least 0.95, the probability of backtest overfitting is below 0.5, and Hansen's SPA
consistent p-value is below 0.05 against every benchmark passed (buy-and-hold and the best
baseline). Otherwise "no edge after N trials", naming every condition that failed with its
value, and every piece that is undefined with the reason. N is the number of variant columns,
or ``n_trials`` when the trial ledger holds trials without comparable returns: the ledger passes
every variant ever evaluated, so N cannot shrink by editing a file.

Input: daily returns aligned on the same days, a DataFrame indexed by day with one column per
variant (or a [T, N] array) and one Series (or array) per benchmark on exactly those days; no
NaN (a day without trades has return 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.ml.trial_statistics.backtest_overfitting import (
    DEFAULT_BLOCKS,
    BacktestOverfitting,
    probability_of_backtest_overfitting,
)
from resnet_pipeline.ml.trial_statistics.deflated_sharpe import (
    DeflatedSharpe,
    deflated_sharpe_of_trials,
)
from resnet_pipeline.ml.trial_statistics.returns_matrix import TrialReturnsError, returns_matrix
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import (
    DEFAULT_REPS,
    SuperiorPredictiveAbility,
    superior_predictive_ability,
)

MIN_DEFLATED_SHARPE = 0.95
MAX_OVERFITTING = 0.5
SPA_ALPHA = 0.05


@dataclass(frozen=True)
class TrialVerdict:
    edge: bool
    n_trials: int
    line: str
    reasons: tuple[str, ...]
    deflated_sharpe: DeflatedSharpe
    overfitting: BacktestOverfitting
    predictive_ability: tuple[SuperiorPredictiveAbility, ...]

    def to_dict(self) -> dict:
        return {
            "edge": self.edge,
            "n_trials": self.n_trials,
            "line": self.line,
            "reasons": list(self.reasons),
            "deflated_sharpe": self.deflated_sharpe.to_dict(),
            "overfitting": self.overfitting.to_dict(),
            "predictive_ability": [spa.to_dict() for spa in self.predictive_ability],
        }


def trial_verdict(
    returns: pd.DataFrame | np.ndarray,
    benchmarks: Mapping[str, pd.Series | np.ndarray],
    blocks: int = DEFAULT_BLOCKS,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    n_trials: int | None = None,
) -> TrialVerdict:
    """The verdict over every trial's daily ``returns`` against each of ``benchmarks`` (name
    -> daily returns); ``blocks``: S of the PBO, ``reps`` and ``seed``: the SPA bootstrap;
    ``n_trials``: N when trials were made beyond the columns (see ``deflated_sharpe``)."""
    if not benchmarks:
        raise TrialReturnsError(
            "no benchmark given: the SPA test needs the daily returns of buy-and-hold and of "
            "the best baseline on the variants' days"
        )
    matrix = returns_matrix(returns)
    deflated = deflated_sharpe_of_trials(matrix, n_trials)
    overfitting = probability_of_backtest_overfitting(matrix, blocks)
    spa = tuple(
        superior_predictive_ability(matrix, series, name, reps, seed)
        for name, series in benchmarks.items()
    )
    reasons = (_deflated_reason(deflated), _overfitting_reason(overfitting))
    reasons = tuple(r for r in reasons + tuple(map(_spa_reason, spa)) if r)
    n = deflated.n_trials
    trials = f"{n} trial{'s' if n != 1 else ''}"
    if reasons:
        line = f"no edge after {trials}: " + "; ".join(reasons)
    else:
        line = f"edge after {trials} at {MIN_DEFLATED_SHARPE:.0%}"
    return TrialVerdict(not reasons, n, line, reasons, deflated, overfitting, spa)


def _deflated_reason(deflated: DeflatedSharpe) -> str | None:
    if deflated.value is None:
        return f"deflated Sharpe undefined: {deflated.reason}"
    if deflated.value < MIN_DEFLATED_SHARPE:
        value = _number(deflated.value, MIN_DEFLATED_SHARPE)
        return f"deflated Sharpe {value} < {MIN_DEFLATED_SHARPE:g}"
    return None


def _overfitting_reason(overfitting: BacktestOverfitting) -> str | None:
    if overfitting.pbo is None:
        return f"PBO undefined: {overfitting.reason}"
    if overfitting.pbo >= MAX_OVERFITTING:
        return f"PBO {_number(overfitting.pbo, MAX_OVERFITTING)} >= {MAX_OVERFITTING:g}"
    return None


def _spa_reason(spa: SuperiorPredictiveAbility) -> str | None:
    if spa.consistent is None:
        return f"SPA vs {spa.benchmark} undefined: {spa.reason}"
    if spa.consistent >= SPA_ALPHA:
        return f"SPA p = {_number(spa.consistent, SPA_ALPHA)} vs {spa.benchmark} >= {SPA_ALPHA:g}"
    return None


def _number(value: float, threshold: float) -> str:
    """3 significant digits; more when 3 would print a failed value as its threshold."""
    for digits in (3, 4, 6):
        text = f"{value:.{digits}g}"
        if float(text) != threshold:
            break
    return text

"""The verdict of an experiment that counts every trial (SPEC 14).

"edge after N trials at 95%: <best> beats <benchmarks> (T trades on D days)" only when all
hold: the deflated Sharpe ratio of the best variant is at least 0.95, the probability of
backtest overfitting is below 0.5, Hansen's (2005) SPA consistent p-value is below 0.05 against
every benchmark passed (buy-and-hold and the best baseline), the best variant is among the
trials that Romano & Wolf's (2005) stepwise test (StepM, ``stepwise_superiority``) finds better
than each benchmark at 5% (SPA says some trial beats it; StepM says which), and the best variant
traded enough (``trade_evidence``: at least 30 trades on at least 10 days by default). Below
that floor the line reads "too few trades to judge (T trades on D days)"; otherwise "no edge
after N trials", naming every condition that failed with its value (printed with the digits
that put it on its true side of the threshold) and every piece that is undefined with the
reason. Every line ends with the trades and days it rests on. N is the number of variant
columns, or ``n_trials`` when the trial ledger holds trials without comparable returns: the
ledger passes every variant ever evaluated, so N cannot shrink by editing a file.

Input: daily returns aligned on the same days, a DataFrame indexed by day with one column per
variant (or a [T, N] array) and one Series (or array) per benchmark on exactly those days; no
NaN (a day without trades has return 0); each variant's number of trades.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from resnet_pipeline.ml.trial_statistics.stepwise_superiority import (
    StepwiseSuperiority,
    stepwise_superiority,
)
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import (
    DEFAULT_REPS,
    SuperiorPredictiveAbility,
    superior_predictive_ability,
)
from resnet_pipeline.ml.trial_statistics.trade_evidence import (
    MIN_ACTIVE_DAYS,
    MIN_TRADES,
    TradeEvidence,
    trade_evidence,
)
from resnet_pipeline.number_format import beside, count, p_value

MIN_DEFLATED_SHARPE = 0.95
MAX_OVERFITTING = 0.5
SPA_ALPHA = 0.05
NAMED = 5  # trials StepM keeps that a line names; the rest are counted


@dataclass(frozen=True)
class TrialVerdict:
    edge: bool
    n_trials: int
    line: str
    reasons: tuple[str, ...]
    deflated_sharpe: DeflatedSharpe
    overfitting: BacktestOverfitting
    predictive_ability: tuple[SuperiorPredictiveAbility, ...]
    stepwise: tuple[StepwiseSuperiority, ...]
    evidence: TradeEvidence

    def to_dict(self) -> dict:
        return {
            "edge": self.edge,
            "n_trials": self.n_trials,
            "line": self.line,
            "reasons": list(self.reasons),
            "deflated_sharpe": self.deflated_sharpe.to_dict(),
            "overfitting": self.overfitting.to_dict(),
            "predictive_ability": [spa.to_dict() for spa in self.predictive_ability],
            "stepwise": [step.to_dict() for step in self.stepwise],
            "evidence": self.evidence.to_dict(),
        }


def trial_verdict(
    returns: pd.DataFrame | np.ndarray,
    benchmarks: Mapping[str, pd.Series | np.ndarray],
    trades: Mapping[str, int],
    blocks: int = DEFAULT_BLOCKS,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    n_trials: int | None = None,
    min_trades: int = MIN_TRADES,
    min_active_days: int = MIN_ACTIVE_DAYS,
) -> TrialVerdict:
    """The verdict over every trial's daily ``returns`` against each of ``benchmarks`` (name
    -> daily returns); ``trades``: each column's number of trades; ``blocks``: S of the PBO,
    ``reps`` and ``seed``: the SPA and StepM bootstrap; ``n_trials``: N when trials were made
    beyond the columns (see ``deflated_sharpe``); ``min_trades``, ``min_active_days``: the
    floor on evidence (``trade_evidence``)."""
    if not benchmarks:
        raise TrialReturnsError(
            "no benchmark given: the SPA test needs the daily returns of buy-and-hold and of "
            "the best baseline on the variants' days"
        )
    matrix = returns_matrix(returns)
    deflated = deflated_sharpe_of_trials(matrix, n_trials)
    judged = deflated.best_variant or matrix.names[0]
    evidence = trade_evidence(matrix, judged, trades, min_trades, min_active_days)
    overfitting = probability_of_backtest_overfitting(matrix, blocks)
    spa = tuple(
        superior_predictive_ability(matrix, series, name, reps, seed)
        for name, series in benchmarks.items()
    )
    stepwise = tuple(
        stepwise_superiority(matrix, series, name, SPA_ALPHA, reps, seed)
        for name, series in benchmarks.items()
    )
    found = (_evidence_reason(evidence), _deflated_reason(deflated))
    found += (_overfitting_reason(overfitting), *map(_spa_reason, spa))
    found += tuple(_stepwise_reason(judged, s, p) for s, p in zip(stepwise, spa, strict=True))
    reasons = tuple(r for r in found if r)
    n = deflated.n_trials
    trials = count(n, "trial")
    if not evidence.enough:
        line = f"too few trades to judge ({evidence.text}) after {trials}: " + "; ".join(reasons)
    elif reasons:
        line = f"no edge after {trials}: " + "; ".join(reasons) + f" ({judged}: {evidence.text})"
    else:
        line = (
            f"edge after {trials} at {MIN_DEFLATED_SHARPE:.0%}: {judged} beats "
            f"{' and '.join(benchmarks)} ({evidence.text})"
        )
    return TrialVerdict(
        not reasons, n, line, reasons, deflated, overfitting, spa, stepwise, evidence
    )


def shown_deflated_sharpe(value: float | None) -> str:
    """The DSR beside its threshold (and never as 1: it is a probability below 1)."""
    return beside(value, MIN_DEFLATED_SHARPE, 1.0)


def shown_overfitting(pbo: float | None) -> str:
    return beside(pbo, MAX_OVERFITTING)


def shown_p(p: float | None, reps: int) -> str:
    """An SPA p-value: '< 0.001' below the bootstrap's resolution 1 / ``reps``."""
    return p_value(p, 1 / reps, SPA_ALPHA)


def kept(better: Sequence[str]) -> str:
    """The trials StepM keeps, in words: 'none', 'a', 'a and b', 'a, b, c, d, e and 3 more'."""
    names = list(better)
    if not names:
        return "none"
    shown = names[:NAMED] + ([f"{len(names) - NAMED} more"] if len(names) > NAMED else [])
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _evidence_reason(evidence: TradeEvidence) -> str | None:
    if evidence.enough:
        return None
    return f"an edge needs {evidence.floor} from {evidence.trial}"


def _deflated_reason(deflated: DeflatedSharpe) -> str | None:
    if deflated.value is None:
        return f"deflated Sharpe undefined: {deflated.reason}"
    if deflated.value < MIN_DEFLATED_SHARPE:
        value = shown_deflated_sharpe(deflated.value)
        return f"deflated Sharpe {value} < {MIN_DEFLATED_SHARPE:g}"
    return None


def _overfitting_reason(overfitting: BacktestOverfitting) -> str | None:
    if overfitting.pbo is None:
        return f"PBO undefined: {overfitting.reason}"
    if overfitting.pbo >= MAX_OVERFITTING:
        return f"PBO {shown_overfitting(overfitting.pbo)} >= {MAX_OVERFITTING:g}"
    return None


def _spa_reason(spa: SuperiorPredictiveAbility) -> str | None:
    if spa.consistent is None:
        return f"SPA vs {spa.benchmark} undefined: {spa.reason}"
    if spa.consistent >= SPA_ALPHA:
        p = shown_p(spa.consistent, spa.reps)
        return f"SPA p = {p} vs {spa.benchmark} >= {SPA_ALPHA:g}"
    return None


def _stepwise_reason(
    judged: str, step: StepwiseSuperiority, spa: SuperiorPredictiveAbility
) -> str | None:
    """Only where the SPA says some trial beats the benchmark (else its reason says enough)."""
    if spa.consistent is None or spa.consistent >= SPA_ALPHA or judged in step.better:
        return None
    return (
        f"{judged} is not among the trials that beat {step.benchmark} at "
        f"{SPA_ALPHA:.0%} by StepM (it keeps {kept(step.better)})"
    )

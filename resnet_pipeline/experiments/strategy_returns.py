"""Daily strategy returns of a trial, of its baselines and of buy-and-hold, after costs.

The SPEC 9 strategy runs once across the stitched months (``trading.stitched``) on the
probabilities named (the trial's calibrated or raw model, or a baseline's), with the trial's own
strategy rules. Every series here covers the same bars (the candles from the first to the last
common minute), so all share the same UTC days: the rows of the verdict's returns matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.experiments.variant_fold import proba
from resnet_pipeline.trading.performance import daily_returns
from resnet_pipeline.trading.stitched import stitched_backtest
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation

SIGNAL_COLUMNS = ("p_down", "p_neutral", "p_up")


def backtest_of(
    candles: pd.DataFrame, frame: pd.DataFrame, name: str, strategy: StrategyConfig
) -> StrategyEvaluation:
    """The strategy over the stitched ``frame`` reading the probabilities ``name``."""
    signals = frame[["timestamp"]].copy()
    for column, values in zip(SIGNAL_COLUMNS, proba(frame, name).T, strict=True):
        signals[column] = values
    return stitched_backtest(candles, signals, strategy)


def daily(evaluation: StrategyEvaluation) -> pd.Series:
    return daily_returns(evaluation.result.equity)


def benchmark_daily(evaluation: StrategyEvaluation) -> pd.Series:
    """Buy-and-hold of the evaluation's bars, with its costs."""
    return daily_returns(evaluation.benchmark)


def mean_return(series: pd.Series) -> float:
    return float(np.mean(series.to_numpy(np.float64))) if len(series) else float("nan")

"""One out-of-sample series from the monthly folds, and the strategy backtested across it.

Each month's probabilities come from the model trained before that month, so the stitched
series is what the models would have said at the time. The backtest runs once over the whole
series: a position opened in month M meets month M+1's probabilities at every later bar, so
it carries across the boundary only if the next month's model would still hold it (no
reversal, held side's probability not below ``exit_confidence``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation, evaluate_strategy


def stitch(folds: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Month 'YYYY-MM' -> that fold's predictions (with ``timestamp``) -> one frame in time
    order with a ``fold`` column. Refuses rows outside their month (a fold predicting another
    month's minutes would be a leak or a mix-up)."""
    parts = []
    for month in sorted(folds):
        frame = folds[month]
        if frame.empty:
            continue
        start = pd.Timestamp(f"{month}-01", tz="UTC")
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
        outside = (stamps < start) | (stamps >= start + pd.offsets.MonthBegin(1))
        if outside.any():
            raise ValueError(
                f"fold {month} holds {int(outside.sum())} predictions outside its month: "
                f"re-materialize wf_predictions for {month}"
            )
        parts.append(frame.assign(timestamp=stamps, fold=month))
    if not parts:
        raise ValueError("no fold predictions to stitch: materialize wf_predictions first")
    out = pd.concat(parts, ignore_index=True)
    if not out["timestamp"].is_monotonic_increasing or out["timestamp"].duplicated().any():
        raise ValueError("fold predictions overlap in time: re-materialize wf_predictions")
    return out


def stitched_backtest(
    candles: pd.DataFrame, stitched: pd.DataFrame, cfg: StrategyConfig
) -> StrategyEvaluation:
    """The SPEC 9 strategy over the stitched months (bars without a prediction: no signal)."""
    return evaluate_strategy(candles, stitched[["timestamp", "p_down", "p_neutral", "p_up"]], cfg)

"""The strategy on the test period: align candles and predictions, simulate, benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.features.indicators import wilder_atr
from resnet_pipeline.targets import compare_to_targets
from resnet_pipeline.trading.performance import (
    TRADING_TARGETS,
    buy_and_hold,
    equity_metrics,
    trading_metrics,
)
from resnet_pipeline.trading.simulate import BacktestResult, make_market, run_backtest
from resnet_pipeline.trading.strategy import StrategyConfig


@dataclass
class StrategyEvaluation:
    result: BacktestResult
    benchmark: pd.Series
    metrics: dict
    benchmark_metrics: dict
    targets: list[dict]
    bars: int
    bars_with_prediction: int


def evaluate_strategy(
    candles: pd.DataFrame, predictions: pd.DataFrame, cfg: StrategyConfig
) -> StrategyEvaluation:
    """``candles``: raw candles covering the test period and some history before it (for the
    ATR); ``predictions``: timestamp, p_down, p_neutral, p_up of the test samples. Bars in the
    test period without a prediction (purged or excluded windows) carry no signal."""
    if predictions.empty:
        raise ValueError("no test predictions: materialize test_metrics first")
    candles = candles.sort_values("timestamp").reset_index(drop=True)
    atr = wilder_atr(*(candles[k].to_numpy(np.float64) for k in ("high", "low", "close")), 14)
    start, end = predictions["timestamp"].min(), predictions["timestamp"].max()
    inside = ((candles["timestamp"] >= start) & (candles["timestamp"] <= end)).to_numpy()
    bars = candles.loc[inside].reset_index(drop=True)
    if len(bars) < 2:
        raise ValueError(f"no stored candles for the test period {start}..{end}")
    proba = (
        bars[["timestamp"]]
        .merge(
            predictions[["timestamp", "p_down", "p_neutral", "p_up"]], on="timestamp", how="left"
        )[["p_down", "p_neutral", "p_up"]]
        .to_numpy(np.float64)
    )
    market = make_market(
        bars["timestamp"],
        *(bars[k].to_numpy() for k in ("open", "high", "low", "close")),
        atr[inside],
        proba,
        cfg,
    )
    result = run_backtest(market, cfg)
    benchmark = buy_and_hold(result.equity.index, market.open, market.close, cfg)
    metrics = trading_metrics(result.equity, result.trades, result.exposure, result.fees)
    return StrategyEvaluation(
        result=result,
        benchmark=benchmark,
        metrics=metrics,
        benchmark_metrics=equity_metrics(benchmark),
        targets=compare_to_targets(metrics, TRADING_TARGETS),
        bars=len(bars),
        bars_with_prediction=int(np.isfinite(proba[:, 0]).sum()),
    )

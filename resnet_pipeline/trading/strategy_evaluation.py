"""The strategy on the test period: align candles and predictions, simulate, benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.features.indicators import wilder_atr
from resnet_pipeline.trading.bars import make_bars
from resnet_pipeline.trading.performance import (
    SHORT_PERIOD_DAYS,
    buy_and_hold,
    equity_metrics,
    trading_metrics,
    trading_verdicts,
)
from resnet_pipeline.trading.simulate import BacktestResult, run_backtest
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
    notes: list[str]  # what a reader must know to read the numbers (no trades, short period)


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
    period = candles.loc[inside].reset_index(drop=True)
    if len(period) < 2:
        raise ValueError(f"no stored candles for the test period {start}..{end}")
    proba = (
        period[["timestamp"]]
        .merge(
            predictions[["timestamp", "p_down", "p_neutral", "p_up"]], on="timestamp", how="left"
        )[["p_down", "p_neutral", "p_up"]]
        .to_numpy(np.float64)
    )
    bars = make_bars(
        period["timestamp"],
        *(period[k].to_numpy() for k in ("open", "high", "low", "close")),
        atr[inside],
        proba,
        cfg,
    )
    result = run_backtest(bars, cfg)
    benchmark = buy_and_hold(result.equity.index, bars.open, bars.close, cfg)
    metrics = trading_metrics(result.equity, result.trades, result.exposure, result.fees)
    benchmark_metrics = equity_metrics(benchmark)
    return StrategyEvaluation(
        result=result,
        benchmark=benchmark,
        metrics=metrics,
        benchmark_metrics=benchmark_metrics,
        targets=trading_verdicts(metrics, benchmark_metrics),
        bars=len(period),
        bars_with_prediction=int(np.isfinite(proba[:, 0]).sum()),
        notes=explain(metrics, proba, bars.side, cfg),
    )


def _highest(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    return f"{finite.max():.4f}" if len(finite) else "none (no predictions)"


def explain(metrics: dict, proba: np.ndarray, side: np.ndarray, cfg: StrategyConfig) -> list[str]:
    """Why there were no trades, and whether the period is too short to annualize."""
    notes = []
    if metrics["trades"] == 0:
        signals = int((side[:-1] != 0).sum())
        shorts = (
            ""
            if cfg.allow_short
            else " Shorts are off (the spot default; allow_short: true enables them), so p_down "
            "opens nothing."
        )
        why = (
            f"No trades: the highest p_up reached was {_highest(proba[:, 2])} and the highest "
            f"p_down {_highest(proba[:, 0])}, against the threshold {cfg.threshold}: a signal "
            f"needs a probability above it.{shorts}"
        )
        if signals:
            why += (
                f" {signals} bar(s) signalled, but none could open a position (drawdown halt or "
                "no next bar to fill at)."
            )
        notes.append(why)
    if metrics["period_days"] < SHORT_PERIOD_DAYS:
        notes.append(
            f"Warning: the test period is only {metrics['period_days']:.1f} days (< "
            f"{SHORT_PERIOD_DAYS}): the annualized return, Sharpe, Sortino and Calmar "
            "extrapolate it to a year and are indicative only."
        )
    return notes

"""Trading metrics (SPEC 10): plain functions of an equity curve and a trade log.

The conventions are stated once, in ``CONVENTIONS``, which every report prints; the tests
hold each function to its sentence. A ratio whose denominator is zero (no volatility, no
losing trade, no drawdown) is None, not infinity.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.verdicts import Target, compare_to_targets, lost_anyway

DAYS_PER_YEAR = 365
SHORT_PERIOD_DAYS = 30  # below this, annualized figures are flagged as extrapolations
BUY_AND_HOLD = "buy_and_hold"
# The seed's targets for the strategy; the ratios of the equity curve must also beat
# buy-and-hold over the same bars (win rate and profit factor have no buy-and-hold twin:
# it is a single position).
TRADING_TARGETS: tuple[Target, ...] = (
    Target("sharpe", ">", 1.5, (BUY_AND_HOLD,)),
    Target("sortino", ">", 2.0, (BUY_AND_HOLD,)),
    Target("max_drawdown", "<", 0.15, (BUY_AND_HOLD,)),
    Target("win_rate", ">", 0.52),
    Target("profit_factor", ">", 1.3),
    Target("calmar", ">", 1.0, (BUY_AND_HOLD,)),
)
CONVENTIONS = (
    "Sharpe and Sortino use daily (UTC) returns of the mark-to-market equity (each day's last "
    "value over the previous day's; the first day over the starting equity), annualized with "
    "sqrt(365); the risk-free rate is 0.",
    "Sharpe = mean / standard deviation (ddof 1) of the daily returns x sqrt(365).",
    "Sortino = mean / downside deviation x sqrt(365); the downside deviation is the root mean "
    "square of min(return, 0) over all days (target return 0).",
    "Annualized return compounds the total return over 365-day years; Calmar = annualized "
    "return / max drawdown; max drawdown is the largest peak-to-trough fall of the "
    "mark-to-market equity.",
    "Win rate = trades with pnl > 0 / all trades: break-even trades count as losses. Profit "
    "factor = gross profit / gross loss.",
    "A trade still open at the end is closed at the last close, paying slippage and its exit "
    "fee; buy-and-hold pays the same entry and exit costs.",
    "A target is met only when the value passes it and beats the matching baseline "
    "(buy-and-hold for Sharpe, Sortino, max drawdown and Calmar).",
)


def daily_returns(equity: pd.Series) -> pd.Series:
    """Returns between the last equity of consecutive UTC days (the first day from the start)."""
    closes = equity.resample("1D").last().dropna()
    previous = closes.shift(1)
    previous.iloc[0] = equity.iloc[0]
    return closes / previous - 1.0


def period_days(equity: pd.Series) -> float:
    return (equity.index[-1] - equity.index[0]).total_seconds() / 86_400


def total_return(equity: pd.Series) -> float:
    return float(equity.iloc[-1] / equity.iloc[0] - 1.0)


def annualized_return(equity: pd.Series) -> float:
    days = period_days(equity)
    if days <= 0 or equity.iloc[-1] <= 0:
        return -1.0 if equity.iloc[-1] <= 0 else 0.0
    return float((equity.iloc[-1] / equity.iloc[0]) ** (DAYS_PER_YEAR / days) - 1.0)


def annualized_sharpe(returns: np.ndarray) -> np.ndarray:
    """Sharpe of daily returns along the last axis (one series, or one bootstrap resample per
    row): mean / standard deviation (ddof 1) x sqrt(365); NaN where undefined (fewer than 2
    days, no variation)."""
    returns = np.asarray(returns, np.float64)
    if returns.shape[-1] < 2:
        return np.full(returns.shape[:-1], np.nan)
    std = returns.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = returns.mean(axis=-1) / std * math.sqrt(DAYS_PER_YEAR)
    return np.where(std > 0, ratio, np.nan)


def sharpe(returns: pd.Series | np.ndarray) -> float | None:
    """``annualized_sharpe`` of one series; None when undefined."""
    value = float(annualized_sharpe(returns))
    return value if math.isfinite(value) else None


def sortino(returns: pd.Series) -> float | None:
    downside = math.sqrt(float((np.minimum(returns, 0.0) ** 2).mean())) if len(returns) else 0.0
    if not downside > 0:
        return None
    return float(returns.mean() / downside * math.sqrt(DAYS_PER_YEAR))


def max_drawdown(equity: pd.Series) -> float:
    """Largest peak-to-trough decline, as a positive fraction of the peak."""
    return float((1.0 - equity / equity.cummax()).max())


def calmar(equity: pd.Series) -> float | None:
    drawdown = max_drawdown(equity)
    return None if drawdown <= 0 else annualized_return(equity) / drawdown


def win_rate(trades: pd.DataFrame) -> float | None:
    return None if trades.empty else float((trades["pnl"] > 0).mean())


def profit_factor(trades: pd.DataFrame) -> float | None:
    if trades.empty:
        return None
    losses = -trades.loc[trades["pnl"] < 0, "pnl"].sum()
    return None if losses <= 0 else float(trades.loc[trades["pnl"] > 0, "pnl"].sum() / losses)


def equity_metrics(equity: pd.Series) -> dict:
    returns = daily_returns(equity)
    return {
        "total_return": total_return(equity),
        "annualized_return": annualized_return(equity),
        "sharpe": sharpe(returns),
        "sortino": sortino(returns),
        "max_drawdown": max_drawdown(equity),
        "calmar": calmar(equity),
        "days": int(len(returns)),
        "period_days": period_days(equity),
    }


def trading_metrics(equity: pd.Series, trades: pd.DataFrame, exposure: float, fees: float) -> dict:
    return {
        **equity_metrics(equity),
        "win_rate": win_rate(trades),
        "profit_factor": profit_factor(trades),
        "trades": int(len(trades)),
        "average_hold_minutes": float(trades["hold_minutes"].mean()) if len(trades) else None,
        "exposure": float(exposure),
        "fees_paid": float(fees),
    }


def buy_and_hold(
    times: pd.DatetimeIndex, open_: np.ndarray, close: np.ndarray, cfg: StrategyConfig
) -> pd.Series:
    """All equity into the symbol at the first bar's open (fee and slippage paid), marked at
    every close and sold at the last close (fee and slippage paid again): the benchmark over
    the same period, with the costs the strategy's own still-open trade pays."""
    price = open_[0] * (1 + cfg.slippage_bps / 1e4)
    qty = cfg.initial_equity * (1 - cfg.fee_rate) / price
    values = qty * np.array(close, np.float64)
    values[-1] *= (1 - cfg.slippage_bps / 1e4) * (1 - cfg.fee_rate)
    return pd.Series(values, index=times, name="buy_and_hold")


def trading_verdicts(metrics: dict, benchmark: dict) -> list[dict]:
    """SPEC 10 targets of the strategy, the curve's ratios also against buy-and-hold; with no
    trade every target is "not defined (no trades)" (a flat curve's 0% drawdown is no merit);
    a target met by a strategy that lost money reads "met, but the strategy lost"."""
    if not metrics.get("trades"):
        why = {t.metric: "no trades" for t in TRADING_TARGETS}
    else:
        reasons = {
            "sharpe": "fewer than 2 days or no day-to-day variation",
            "sortino": "no losing day",
            "calmar": "no drawdown",
            "profit_factor": "no losing trade",
        }
        why = {k: v for k, v in reasons.items() if metrics.get(k) is None}
    rows = compare_to_targets(metrics, TRADING_TARGETS, {BUY_AND_HOLD: benchmark}, why)
    lost = (metrics.get("total_return") or 0.0) < 0
    return lost_anyway(rows) if lost else rows

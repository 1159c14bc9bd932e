"""Trading metrics (SPEC 10): plain functions of an equity curve and a trade log.

Conventions, stated once: returns for Sharpe and Sortino are DAILY (UTC) returns of the
mark-to-market equity, annualized with sqrt(365) (crypto trades every day); annualized return
compounds over 365-day years; drawdowns are measured on the same equity curve. A ratio whose
denominator is zero (no volatility, no losing trade, no drawdown) is None, not infinity.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from resnet_pipeline.targets import Target
from resnet_pipeline.trading.strategy import StrategyConfig

DAYS_PER_YEAR = 365
# (metric, comparison, target): the seed's targets for the strategy.
TRADING_TARGETS: tuple[Target, ...] = (
    ("sharpe", ">", 1.5),
    ("sortino", ">", 2.0),
    ("max_drawdown", "<", 0.15),
    ("win_rate", ">", 0.52),
    ("profit_factor", ">", 1.3),
    ("calmar", ">", 1.0),
)


def daily_returns(equity: pd.Series) -> pd.Series:
    """Returns between the last equity of consecutive UTC days (the first day from the start)."""
    closes = equity.resample("1D").last().dropna()
    previous = closes.shift(1)
    previous.iloc[0] = equity.iloc[0]
    return closes / previous - 1.0


def total_return(equity: pd.Series) -> float:
    return float(equity.iloc[-1] / equity.iloc[0] - 1.0)


def annualized_return(equity: pd.Series) -> float:
    days = (equity.index[-1] - equity.index[0]).total_seconds() / 86_400
    if days <= 0 or equity.iloc[-1] <= 0:
        return -1.0 if equity.iloc[-1] <= 0 else 0.0
    return float((equity.iloc[-1] / equity.iloc[0]) ** (DAYS_PER_YEAR / days) - 1.0)


def sharpe(returns: pd.Series) -> float | None:
    std = returns.std(ddof=1)
    if len(returns) < 2 or not std > 0:
        return None
    return float(returns.mean() / std * math.sqrt(DAYS_PER_YEAR))


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
    every close: the benchmark over the same period."""
    price = open_[0] * (1 + cfg.slippage_bps / 1e4)
    qty = cfg.initial_equity * (1 - cfg.fee_rate) / price
    return pd.Series(qty * np.asarray(close, np.float64), index=times, name="buy_and_hold")

"""The backtest's outputs as series: mark-to-market equity per bar and the trade log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.trading.bars import Bars, utc_index

EMPTY_LOG_COLUMNS = ["entry_time", "exit_time", "side", "reason", "pnl"]


def equity_curve(bars: Bars, log: pd.DataFrame, initial: float) -> np.ndarray:
    """Mark-to-market equity at every bar's close: realized equity when flat, and the open
    position valued at the close (its entry fee paid, its borrow fee accrued in proportion to
    the time held) while in a trade. ``log``: the engine's trades as a frame, in time order."""
    if log.empty:
        return np.full(bars.n, initial, dtype=np.float64)
    entry, exit_ = log["entry_bar"].to_numpy(), log["exit_bar"].to_numpy()
    index = np.searchsorted(exit_, np.arange(bars.n), side="right") - 1
    realized = log["equity_after"].to_numpy(np.float64)
    equity = np.where(index >= 0, realized[np.maximum(index, 0)], initial)
    held = exit_ - entry  # bars entry .. exit - 1; the exit bar itself is realized
    owner = np.repeat(np.arange(len(log)), held)
    bar = np.arange(int(held.sum())) - np.repeat(np.cumsum(held) - held, held) + entry[owner]

    def per_bar(column: str) -> np.ndarray:
        return log[column].to_numpy()[owner]

    marked = per_bar("side") * per_bar("qty") * (bars.close[bar] - per_bar("entry_price"))
    span = np.maximum(bars.times[exit_] - bars.times[entry], 1)[owner]
    accrued = per_bar("borrow_fee") * (bars.times[bar] - bars.times[entry][owner]) / span
    equity[bar] = per_bar("equity_before") - per_bar("entry_fee") - accrued + marked
    return equity


def trades_frame(bars: Bars, log: pd.DataFrame) -> pd.DataFrame:
    """The trade log with entry / exit times and the minutes held."""
    if log.empty:
        return pd.DataFrame(columns=EMPTY_LOG_COLUMNS)
    entry_time = utc_index(bars.times[log["entry_bar"].to_numpy()])
    exit_time = utc_index(bars.times[log["exit_bar"].to_numpy()])
    return log.drop(columns=["exit_at_open"]).assign(
        entry_time=entry_time,
        exit_time=exit_time,
        hold_minutes=(exit_time - entry_time).total_seconds() / 60,
    )

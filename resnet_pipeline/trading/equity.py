"""The backtest's outputs as series: mark-to-market equity per bar and the trade log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.trading.market import Market


def equity_curve(m: Market, trades: list[dict], initial: float) -> np.ndarray:
    """Mark-to-market equity at every bar's close: realized equity when flat, and the open
    position valued at the close (its entry fee paid) while in a trade."""
    equity = np.full(m.n, initial, dtype=np.float64)
    if not trades:
        return equity
    exits = np.array([t["exit_bar"] for t in trades])
    realized = np.array([t["equity_after"] for t in trades])
    index = np.searchsorted(exits, np.arange(m.n), side="right") - 1
    equity = np.where(index >= 0, realized[np.maximum(index, 0)], initial)
    for t in trades:
        held = slice(t["entry_bar"], t["exit_bar"])  # the exit bar itself is realized
        marked = t["side"] * t["qty"] * (m.close[held] - t["entry_price"])
        accrued = (
            t["borrow_fee"]
            * (m.times[held] - m.times[t["entry_bar"]])
            / max(m.times[t["exit_bar"]] - m.times[t["entry_bar"]], 1)
        )
        equity[held] = t["equity_before"] - t["entry_fee"] - accrued + marked
    return equity


def trades_frame(m: Market, trades: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(trades)
    if frame.empty:
        return pd.DataFrame(columns=["entry_time", "exit_time", "side", "reason", "pnl"])
    frame["entry_time"] = pd.to_datetime(m.times[frame["entry_bar"]], utc=True)
    frame["exit_time"] = pd.to_datetime(m.times[frame["exit_bar"]], utc=True)
    frame["hold_minutes"] = (frame["exit_time"] - frame["entry_time"]).dt.total_seconds() / 60
    return frame.drop(columns=["exit_at_open"])

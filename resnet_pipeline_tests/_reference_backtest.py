"""The strategy bar by bar, and its equity trade by trade: the plain references the engine
(``trading.simulate``) and its vectorized equity curve must equal.

Slow (a Python loop over every bar) and obvious on purpose: at every bar it asks each rule
whether it fires. It shares with the engine only ``fills`` (prices, sizes, fees, which exit
rule fires at a given bar) and the ``DrawdownGuard``; the engine finds exit bars its own way
(an index of signal exits, a walk over the bars before them, jumps over flat and halted
stretches), so equal trade logs check that search, bar for bar.
"""

from __future__ import annotations

import numpy as np

from resnet_pipeline.trading.bars import Bars
from resnet_pipeline.trading.drawdown_guard import DrawdownGuard
from resnet_pipeline.trading.fills import (
    close_position,
    intrabar_exit,
    open_position,
    signal_exit,
    time_exit_bar,
)
from resnet_pipeline.trading.strategy import StrategyConfig


def reference_trades(m: Bars, cfg: StrategyConfig) -> list[dict]:
    trades: list[dict] = []
    equity = cfg.initial_equity
    guard = DrawdownGuard(equity, cfg)
    position = None
    j = 0
    while j < m.n:
        if position is None:  # flat: decide at this bar's close, fill at the next open
            if m.side[j] != 0 and j + 1 < m.n:
                guard.roll(m.day(j + 1), m.week(j + 1), equity)  # the fill's day and week
                if not guard.stopped:
                    position = open_position(m, j, equity, guard.halved, cfg)
                    time_bar = time_exit_bar(m, position, cfg)
                    extreme = position.entry_price  # peak (long) or trough (short) so far
                    j = position.entry_bar
                    continue
            j += 1
            continue
        # in a position during bar j
        if cfg.stop == "trailing":
            level = extreme - position.trail if position.side > 0 else extreme + position.trail
        else:
            level = position.stop0
        hit = intrabar_exit(position, level, m.open[j], m.high[j], m.low[j], cfg)
        if hit is not None:
            trade = close_position(m, position, j, hit[0], hit[1], cfg)
        elif j == m.n - 1:
            trade = close_position(m, position, j, m.close[j], "end", cfg)
        else:
            extreme = max(extreme, m.high[j]) if position.side > 0 else min(extreme, m.low[j])
            reason = signal_exit(m, position, j, time_bar, cfg)
            if reason is None:
                j += 1
                continue
            trade = close_position(m, position, j + 1, m.open[j + 1], reason, cfg)
        x = trade["exit_bar"]
        guard.after_exit(m.day(x), m.week(x), equity, trade["equity_after"])
        equity = trade["equity_after"]
        trades.append(trade)
        position = None
        if trade["reason"] == "end":
            break
        if trade["exit_at_open"] and trade["reason"] != "reversal":
            j += 1  # the next decision is at the exit bar's close
        # intrabar exits and reversals: decide again at this same bar's close
    return trades


def reference_equity(m: Bars, trades: list[dict], initial: float) -> np.ndarray:
    """Mark-to-market equity trade by trade: realized equity after each exit, the open
    position marked at each close (entry fee paid, borrow fee accrued with time held)."""
    equity = np.full(m.n, initial, dtype=np.float64)
    for t in trades:
        equity[t["exit_bar"] :] = t["equity_after"]
        held = slice(t["entry_bar"], t["exit_bar"])  # the exit bar itself is realized
        marked = t["side"] * t["qty"] * (m.close[held] - t["entry_price"])
        accrued = (
            t["borrow_fee"]
            * (m.times[held] - m.times[t["entry_bar"]])
            / max(m.times[t["exit_bar"]] - m.times[t["entry_bar"]], 1)
        )
        equity[held] = t["equity_before"] - t["entry_fee"] - accrued + marked
    return equity

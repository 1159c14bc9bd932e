"""The strategy bar by bar: the plain reference the fast engine (``simulate``) must equal.

Slow (a Python loop over every bar) and obvious on purpose; the benchmark reports how much
faster the event-driven engine is.
"""

from __future__ import annotations

from resnet_pipeline.trading.drawdown_guard import DrawdownGuard
from resnet_pipeline.trading.fills import (
    close_position,
    intrabar_exit,
    open_position,
    signal_exit,
    time_exit_bar,
)
from resnet_pipeline.trading.market import Market
from resnet_pipeline.trading.strategy import StrategyConfig


def run_bar_loop(m: Market, cfg: StrategyConfig) -> list[dict]:
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

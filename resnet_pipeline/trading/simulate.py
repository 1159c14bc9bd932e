"""The backtest engine: Python work per trade and per bar held, none per flat bar.

Flat, it bisects to the next bar with a signal (and jumps over a halted week). In a
position, the first close that decides a signal exit (reversal, low confidence) comes from
an index built once per run with numpy, the time exit from the clock; only the bars up to
the earlier of the two are walked, over plain Python floats, for the stop and take profit
(``exit_search``).

The tests hold it, trade for trade and bar for bar of equity, to a plain loop that asks every
rule at every bar (``resnet_pipeline_tests/_reference_backtest.py``). Both take prices,
sizes, fees, which rule fires at a given bar, and the drawdown guard from ``fills`` and
``drawdown_guard`` (held to hand-computed cases of their own), so the comparison checks what
differs: which bars this engine looks at and which it skips.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.trading.bars import DAY_NS, Bars
from resnet_pipeline.trading.drawdown_guard import DrawdownGuard
from resnet_pipeline.trading.equity import equity_curve, trades_frame
from resnet_pipeline.trading.exit_search import ExitSearch
from resnet_pipeline.trading.fills import open_position
from resnet_pipeline.trading.strategy import StrategyConfig


@dataclass
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.Series  # mark-to-market at each bar's close, indexed by time
    exposure: float  # share of bars in a position
    fees: float
    config: StrategyConfig


def simulate(bars: Bars, cfg: StrategyConfig) -> list[dict]:
    """Every trade of the strategy over the bars, in order."""
    trades: list[dict] = []
    equity = cfg.initial_equity
    guard = DrawdownGuard(equity, cfg)
    exits = ExitSearch(bars, cfg)
    candidates = np.flatnonzero(bars.side[:-1] != 0).tolist()  # a fill needs a next bar
    decision = 0
    while (k := bisect_left(candidates, decision)) < len(candidates):
        t = candidates[k]
        guard.roll(bars.day(t + 1), bars.week(t + 1), equity)  # the fill's day and week
        if guard.stopped:  # no new fills until the next ISO week starts
            next_week = ((guard.week + 1) * 7 - 3) * DAY_NS
            decision = int(np.searchsorted(bars.times, next_week)) - 1  # fills at next_week on
            continue
        trade, following = exits.trade_of(open_position(bars, t, equity, guard.halved, cfg))
        x = trade["exit_bar"]
        guard.after_exit(bars.day(x), bars.week(x), equity, trade["equity_after"])
        equity = trade["equity_after"]
        trades.append(trade)
        if following is None:
            break
        decision = following
    return trades


def result_of(bars: Bars, trades: list[dict], cfg: StrategyConfig) -> BacktestResult:
    log = pd.DataFrame(trades)
    equity = equity_curve(bars, log, cfg.initial_equity)
    in_position = sum(t["exit_bar"] - t["entry_bar"] for t in trades)
    return BacktestResult(
        trades=trades_frame(bars, log),
        equity=pd.Series(equity, index=bars.index, name="equity"),
        exposure=in_position / max(bars.n, 1),
        fees=float(sum(t["fees"] for t in trades)),
        config=cfg,
    )


def run_backtest(bars: Bars, cfg: StrategyConfig | None = None) -> BacktestResult:
    cfg = cfg or StrategyConfig()
    if bars.n < 2:
        raise ValueError("a backtest needs at least two bars")
    return result_of(bars, simulate(bars, cfg), cfg)

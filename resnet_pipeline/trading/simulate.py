"""The backtest engine: event-driven, so Python work is per trade, not per bar.

Flat, it jumps to the next bar with a signal (a search over precomputed signal bars); in a
position, it finds the exit bar with vectorized first-hit searches over the at most
``max_hold_minutes`` bars the position can live. ``bar_loop.run_bar_loop`` is the same rules
bar by bar, the readable specification the tests hold this engine to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.trading.drawdown_guard import DrawdownGuard
from resnet_pipeline.trading.equity import equity_curve, trades_frame
from resnet_pipeline.trading.fills import (
    Position,
    close_position,
    intrabar_exit,
    open_position,
    signal_exit,
    time_exit_bar,
)
from resnet_pipeline.trading.market import DAY_NS, Market
from resnet_pipeline.trading.strategy import StrategyConfig, signals


@dataclass
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.Series  # mark-to-market at each bar's close, indexed by time
    exposure: float  # share of bars in a position
    fees: float
    config: StrategyConfig


def make_market(
    times: pd.Series | np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    proba: np.ndarray,
    cfg: StrategyConfig,
) -> Market:
    ns = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns").asi8
    proba = np.asarray(proba, np.float64)
    side, _ = signals(proba, cfg)
    arrays = [np.asarray(a, np.float64) for a in (open_, high, low, close, atr)]
    return Market(ns, *arrays, side=side, p_long=proba[:, 2], p_short=proba[:, 0])


def _levels(m: Market, pos: Position, bars: slice, extreme: float) -> np.ndarray:
    """Stop levels for ``bars``; trailing stops follow ``extreme`` (the best price of the
    bars before, from the entry price on) and the bars of the slice before each bar."""
    if pos.side > 0:
        peak = np.maximum.accumulate(np.concatenate(([extreme], m.high[bars][:-1])))
        return peak - pos.trail
    trough = np.minimum.accumulate(np.concatenate(([extreme], m.low[bars][:-1])))
    return trough + pos.trail


def _first(mask: np.ndarray) -> int | None:
    index = int(mask.argmax())
    return index if mask[index] else None


def _exit(m: Market, pos: Position, cfg: StrategyConfig) -> tuple[dict, int | None]:
    """The trade this position becomes, and the next decision bar (None: data ended).

    Bars are scanned in growing windows (most positions end within a few dozen bars), up to
    the time exit; comparisons with NaN (no take profit, no prediction) are simply False.
    """
    e, n = pos.entry_bar, m.n
    time_bar = time_exit_bar(m, pos, cfg)
    end = min(time_bar, n)  # bars the position can live through: e .. end - 1
    trailing = cfg.stop == "trailing"
    extreme = pos.entry_price
    start, width = e, 64
    while start < end:
        stop = min(start + width, end)
        held = slice(start, stop)
        levels = _levels(m, pos, held, extreme) if trailing else None
        level_or_levels = levels if trailing else pos.stop0
        if pos.side > 0:
            intra = (m.low[held] <= level_or_levels) | (m.high[held] >= pos.take_profit)
        else:
            intra = (m.high[held] >= level_or_levels) | (m.low[held] <= pos.take_profit)
        i1 = _first(intra)
        decided = slice(start, min(stop, n - 1))  # closes whose decision fills at a next open
        i2 = None
        if decided.stop > decided.start:
            flags = np.arange(decided.start + 1, decided.stop + 1) >= time_bar
            if cfg.exit_on_reversal:
                flags |= m.side[decided] == -pos.side
            if cfg.exit_confidence is not None:
                held_p = m.p_long[decided] if pos.side > 0 else m.p_short[decided]
                flags |= held_p < cfg.exit_confidence
            i2 = _first(flags)
        if i1 is not None and (i2 is None or i1 <= i2):
            j = start + i1
            level = levels[i1] if trailing else pos.stop0
            price, reason = intrabar_exit(pos, level, m.open[j], m.high[j], m.low[j], cfg)
            return close_position(m, pos, j, price, reason, cfg), j
        if i2 is not None:
            j = start + i2
            reason = signal_exit(m, pos, j, time_bar, cfg)
            trade = close_position(m, pos, j + 1, m.open[j + 1], reason, cfg)
            return trade, (j if reason == "reversal" else j + 1)
        if trailing:
            extreme = (
                max(extreme, m.high[held].max())
                if pos.side > 0
                else min(extreme, m.low[held].min())
            )
        start, width = stop, width * 4
    return close_position(m, pos, n - 1, m.close[n - 1], "end", cfg), None


def simulate(m: Market, cfg: StrategyConfig) -> list[dict]:
    """Every trade of the strategy over the market, in order."""
    trades: list[dict] = []
    equity = cfg.initial_equity
    guard = DrawdownGuard(equity, cfg)
    candidates = np.flatnonzero(m.side[:-1] != 0)  # decisions need a next bar to fill
    decision = 0
    while True:
        k = int(np.searchsorted(candidates, decision))
        if k >= len(candidates):
            break
        t = int(candidates[k])
        guard.roll(m.day(t + 1), m.week(t + 1), equity)  # the fill's day and week
        if guard.stopped:  # no new fills until the next ISO week starts
            next_week = ((guard.week + 1) * 7 - 3) * DAY_NS
            decision = int(np.searchsorted(m.times, next_week)) - 1  # fills at next_week on
            continue
        position = open_position(m, t, equity, guard.halved, cfg)
        trade, following = _exit(m, position, cfg)
        x = trade["exit_bar"]
        guard.after_exit(m.day(x), m.week(x), equity, trade["equity_after"])
        equity = trade["equity_after"]
        trades.append(trade)
        if following is None:
            break
        decision = following
    return trades


def result_of(m: Market, trades: list[dict], cfg: StrategyConfig) -> BacktestResult:
    equity = equity_curve(m, trades, cfg.initial_equity)
    in_position = sum(t["exit_bar"] - t["entry_bar"] for t in trades)
    return BacktestResult(
        trades=trades_frame(m, trades),
        equity=pd.Series(equity, index=pd.to_datetime(m.times, utc=True), name="equity"),
        exposure=in_position / max(m.n, 1),
        fees=float(sum(t["fees"] for t in trades)),
        config=cfg,
    )


def run_backtest(m: Market, cfg: StrategyConfig | None = None) -> BacktestResult:
    cfg = cfg or StrategyConfig()
    if m.n < 2:
        raise ValueError("a backtest needs at least two bars")
    return result_of(m, simulate(m, cfg), cfg)

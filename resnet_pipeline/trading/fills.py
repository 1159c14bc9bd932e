"""Entries, exits and their costs: every price, size and fee of a backtest, and which exit
rule fires at a given bar.

The engine (``simulate``) and the tests' plain per-bar loop both take their fills from here
and differ in how they find the bar a position exits, so the property test comparing them
checks that search exactly (the arithmetic here is held to hand-computed cases instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from resnet_pipeline.trading.bars import DAY_NS, MINUTE_NS, Bars
from resnet_pipeline.trading.strategy import StrategyConfig, size_fraction

EXIT_REASONS = ("stop", "trailing_stop", "take_profit", "reversal", "low_confidence", "time", "end")


@dataclass
class Position:
    side: int
    decision_bar: int
    entry_bar: int
    entry_price: float  # after slippage
    qty: float
    notional: float
    entry_fee: float
    entry_slippage: float  # what the entry's slippage cost, in the quote currency
    equity_before: float
    stop0: float  # the stop level at entry
    trail: float  # trailing distance (0 unless the stop is trailing)
    take_profit: float  # NaN when disabled


def open_position(bars: Bars, t: int, equity: float, halved: bool, cfg: StrategyConfig) -> Position:
    """Decision at bar t's close, fill at bar t+1's open (plus slippage). Plain Python floats
    throughout: the same values as numpy scalars, several times cheaper per operation."""
    side = int(bars.side[t])
    confidence = float(bars.p_long[t] if side > 0 else bars.p_short[t])
    raw_price = float(bars.open[t + 1])
    price = raw_price * (1 + side * cfg.slippage_bps / 1e4)
    fraction = size_fraction(confidence, cfg) * (0.5 if halved else 1.0)
    notional = equity * fraction
    atr = float(bars.atr[t])
    atr = atr if math.isfinite(atr) else 0.0
    if cfg.stop == "fixed":
        stop0, trail = price * (1 - side * cfg.stop_pct), 0.0
    elif cfg.stop == "atr":
        stop0, trail = price - side * cfg.atr_mult * atr, 0.0
    else:
        trail = cfg.trail_atr_mult * atr
        stop0 = price - side * trail
    tp = price * (1 + side * cfg.take_profit) if cfg.take_profit is not None else math.nan
    return Position(
        side=side,
        decision_bar=t,
        entry_bar=t + 1,
        entry_price=price,
        qty=notional / price,
        notional=notional,
        entry_fee=notional * cfg.fee_rate,
        entry_slippage=notional / price * abs(price - raw_price),
        equity_before=equity,
        stop0=stop0,
        trail=trail,
        take_profit=tp,
    )


def intrabar_exit(
    pos: Position, level: float, open_: float, high: float, low: float, cfg: StrategyConfig
) -> tuple[float, str] | None:
    """Stop (checked first: the conservative reading) or take profit inside one bar; a bar
    opening beyond the level fills at the open."""
    stop_reason = "trailing_stop" if cfg.stop == "trailing" else "stop"
    if pos.side > 0:
        if low <= level:
            return min(open_, level), stop_reason
        if high >= pos.take_profit:
            return max(open_, pos.take_profit), "take_profit"
    else:
        if high >= level:
            return max(open_, level), stop_reason
        if low <= pos.take_profit:
            return min(open_, pos.take_profit), "take_profit"
    return None


def signal_exit(
    bars: Bars, pos: Position, j: int, time_bar: int, cfg: StrategyConfig
) -> str | None:
    """An exit decided at bar j's close (filled at j+1's open), or None."""
    if cfg.exit_on_reversal and bars.side[j] == -pos.side:
        return "reversal"
    held = bars.p_long[j] if pos.side > 0 else bars.p_short[j]
    if cfg.exit_confidence is not None and held < cfg.exit_confidence:
        return "low_confidence"
    if j + 1 >= time_bar:
        return "time"
    return None


def time_exit_bar(bars: Bars, pos: Position, cfg: StrategyConfig) -> int:
    """The first bar whose open is max_hold_minutes or more after the entry."""
    limit = int(bars.times[pos.entry_bar]) + cfg.max_hold_minutes * MINUTE_NS
    return int(bars.times.searchsorted(limit, side="left"))


def borrow_cost(pos: Position, held_ns: int, cfg: StrategyConfig) -> float:
    """What a short pays to borrow the asset for ``held_ns`` nanoseconds (0 for longs)."""
    if pos.side > 0:
        return 0.0
    return float(pos.notional * cfg.borrow_fee_per_day * int(held_ns) / DAY_NS)


def close_position(
    bars: Bars, pos: Position, exit_bar: int, raw_price: float, reason: str, cfg: StrategyConfig
) -> dict:
    price = float(raw_price) * (1 - pos.side * cfg.slippage_bps / 1e4)
    exit_fee = pos.qty * price * cfg.fee_rate
    gross = pos.side * pos.qty * (price - pos.entry_price)
    borrow = borrow_cost(pos, bars.times[exit_bar] - bars.times[pos.entry_bar], cfg)
    pnl = gross - pos.entry_fee - exit_fee - borrow
    slippage = pos.entry_slippage + pos.qty * abs(float(raw_price) - price)
    return {
        "side": pos.side,
        "decision_bar": pos.decision_bar,
        "entry_bar": pos.entry_bar,
        "exit_bar": exit_bar,
        "entry_price": pos.entry_price,
        "exit_price": price,
        "qty": pos.qty,
        "notional": pos.notional,
        "entry_fee": pos.entry_fee,
        "fees": pos.entry_fee + exit_fee + borrow,
        "borrow_fee": borrow,
        "slippage": slippage,  # already in the prices: pnl + fees + slippage is the gross
        "pnl": pnl,
        "return": pnl / pos.notional if pos.notional else 0.0,
        "reason": reason,
        "equity_after": pos.equity_before + pnl,
        "equity_before": pos.equity_before,
        "exit_at_open": reason in ("reversal", "low_confidence", "time"),
    }

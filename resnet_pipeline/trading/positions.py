"""What both backtest engines share: fills, costs, stop levels, drawdown protection, equity.

The fast engine (``simulate``) and the per-bar reference loop (``bar_loop``) differ only in
how they find the bar a position exits; every price, size and cost comes from here, so the
property test comparing them checks the search logic exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.trading.strategy import StrategyConfig, size_fraction

MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 60 * MINUTE_NS
EXIT_REASONS = ("stop", "trailing_stop", "take_profit", "reversal", "low_confidence", "time", "end")


@dataclass(frozen=True)
class Market:
    """Bars of the test period: times (int64 ns UTC), OHLC, ATR(14) in price units, and the
    model's probabilities at each bar's close (NaN rows: no prediction)."""

    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    atr: np.ndarray
    side: np.ndarray  # +1 / -1 / 0 signal at each close
    p_long: np.ndarray  # probability of Up at each close
    p_short: np.ndarray  # probability of Down

    @property
    def n(self) -> int:
        return len(self.times)

    def day(self, bar: int) -> int:
        return int(self.times[bar] // DAY_NS)

    def week(self, bar: int) -> int:
        """ISO week number since the epoch (1970-01-01 was a Thursday; weeks start Monday)."""
        return int((self.times[bar] // DAY_NS + 3) // 7)


@dataclass
class Position:
    side: int
    decision_bar: int
    entry_bar: int
    entry_price: float  # after slippage
    qty: float
    notional: float
    entry_fee: float
    equity_before: float
    stop0: float  # the stop level at entry
    trail: float  # trailing distance (0 unless the stop is trailing)
    take_profit: float  # NaN when disabled


def open_position(m: Market, t: int, equity: float, halved: bool, cfg: StrategyConfig) -> Position:
    """Decision at bar t's close, fill at bar t+1's open (plus slippage)."""
    side = int(m.side[t])
    confidence = m.p_long[t] if side > 0 else m.p_short[t]
    price = m.open[t + 1] * (1 + side * cfg.slippage_bps / 1e4)
    fraction = size_fraction(float(confidence), cfg) * (0.5 if halved else 1.0)
    notional = equity * fraction
    atr = m.atr[t] if np.isfinite(m.atr[t]) else 0.0
    if cfg.stop == "fixed":
        stop0, trail = price * (1 - side * cfg.stop_pct), 0.0
    elif cfg.stop == "atr":
        stop0, trail = price - side * cfg.atr_mult * atr, 0.0
    else:
        trail = cfg.trail_atr_mult * atr
        stop0 = price - side * trail
    tp = price * (1 + side * cfg.take_profit) if cfg.take_profit is not None else np.nan
    return Position(
        side=side,
        decision_bar=t,
        entry_bar=t + 1,
        entry_price=price,
        qty=notional / price,
        notional=notional,
        entry_fee=notional * cfg.fee_rate,
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


def signal_exit(m: Market, pos: Position, j: int, time_bar: int, cfg: StrategyConfig) -> str | None:
    """An exit decided at bar j's close (filled at j+1's open), or None."""
    if cfg.exit_on_reversal and m.side[j] == -pos.side:
        return "reversal"
    held = m.p_long[j] if pos.side > 0 else m.p_short[j]
    if cfg.exit_confidence is not None and held < cfg.exit_confidence:
        return "low_confidence"
    if j + 1 >= time_bar:
        return "time"
    return None


def time_exit_bar(m: Market, pos: Position, cfg: StrategyConfig) -> int:
    """The first bar whose open is max_hold_minutes or more after the entry."""
    limit = m.times[pos.entry_bar] + cfg.max_hold_minutes * MINUTE_NS
    return int(np.searchsorted(m.times, limit, side="left"))


def close_position(
    m: Market, pos: Position, exit_bar: int, raw_price: float, reason: str, cfg: StrategyConfig
) -> dict:
    price = raw_price * (1 - pos.side * cfg.slippage_bps / 1e4)
    exit_fee = pos.qty * price * cfg.fee_rate
    gross = pos.side * pos.qty * (price - pos.entry_price)
    pnl = gross - pos.entry_fee - exit_fee
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
        "fees": pos.entry_fee + exit_fee,
        "pnl": pnl,
        "return": pnl / pos.notional if pos.notional else 0.0,
        "reason": reason,
        "equity_after": pos.equity_before + pnl,
        "equity_before": pos.equity_before,
        "exit_at_open": reason in ("reversal", "low_confidence", "time"),
    }


class DrawdownGuard:
    """Halve sizes after the UTC day's drawdown exceeds the limit; stop trading for the rest of
    the ISO week after the week's does. Drawdowns are measured on realized equity (after each
    exit) from the highest realized equity of the day / week, starting with the equity carried
    into it."""

    def __init__(self, equity: float, cfg: StrategyConfig) -> None:
        self.cfg = cfg
        self.day = self.week = None
        self.day_peak = self.week_peak = equity
        self.halved = self.stopped = False

    def roll(self, day: int, week: int, equity: float) -> None:
        if day != self.day:
            self.day, self.day_peak, self.halved = day, equity, False
        if week != self.week:
            self.week, self.week_peak, self.stopped = week, equity, False

    def after_exit(self, day: int, week: int, equity_before: float, equity: float) -> None:
        self.roll(day, week, equity_before)
        self.day_peak = max(self.day_peak, equity)
        self.week_peak = max(self.week_peak, equity)
        if equity < self.day_peak * (1 - self.cfg.daily_drawdown_halve):
            self.halved = True
        if equity < self.week_peak * (1 - self.cfg.weekly_drawdown_stop):
            self.stopped = True


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
        equity[held] = t["equity_before"] - t["entry_fee"] + marked
    return equity


def trades_frame(m: Market, trades: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(trades)
    if frame.empty:
        return pd.DataFrame(columns=["entry_time", "exit_time", "side", "reason", "pnl"])
    frame["entry_time"] = pd.to_datetime(m.times[frame["entry_bar"]], utc=True)
    frame["exit_time"] = pd.to_datetime(m.times[frame["exit_bar"]], utc=True)
    frame["hold_minutes"] = (frame["exit_time"] - frame["entry_time"]).dt.total_seconds() / 60
    return frame.drop(columns=["exit_at_open"])

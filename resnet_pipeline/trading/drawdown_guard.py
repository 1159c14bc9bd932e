"""SPEC 9's drawdown protection: halve sizes after a bad day, stop for the week after a bad week."""

from __future__ import annotations

from resnet_pipeline.trading.strategy import StrategyConfig


class DrawdownGuard:
    """Halve sizes after the UTC day's drawdown exceeds the limit; stop trading for the rest of
    the ISO week after the week's does. Drawdowns are measured on realized equity (after each
    exit) from the highest realized equity of the day / week, starting with the equity carried
    into it.

    A new position is judged by the day and week of its fill (the next bar's open), and the
    guard only moves forward in time: a reversal decided on a day's (week's) last bar exits at
    the next day's 00:00 open and re-enters at that same open, in the day (week) where the
    exit was just counted, never in the one before (which would forget the halving or the
    weekly halt)."""

    def __init__(self, equity: float, cfg: StrategyConfig) -> None:
        self.cfg = cfg
        self.day = self.week = None
        self.day_peak = self.week_peak = equity
        self.halved = self.stopped = False

    def roll(self, day: int, week: int, equity: float) -> None:
        if self.day is None or day > self.day:
            self.day, self.day_peak, self.halved = day, equity, False
        if self.week is None or week > self.week:
            self.week, self.week_peak, self.stopped = week, equity, False

    def after_exit(self, day: int, week: int, equity_before: float, equity: float) -> None:
        self.roll(day, week, equity_before)
        self.day_peak = max(self.day_peak, equity)
        self.week_peak = max(self.week_peak, equity)
        if equity < self.day_peak * (1 - self.cfg.daily_drawdown_halve):
            self.halved = True
        if equity < self.week_peak * (1 - self.cfg.weekly_drawdown_stop):
            self.stopped = True

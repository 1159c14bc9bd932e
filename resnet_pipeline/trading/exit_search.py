"""Where an open position ends: the engine's search for its exit bar.

Signal exits (reversal, low confidence) do not depend on the position, only on its side, so
the first flagged close at or after each bar is indexed once per run; the time exit is a
search on the clock. Only the bars up to the earlier of the two are walked for the stop and
the take profit, the one per-bar loop, over Python floats (numpy scalars cost several times
more per comparison). Which rule fires at the found bar, and at what price, is
``fills``' decision.
"""

from __future__ import annotations

import numpy as np

from resnet_pipeline.trading.bars import Bars
from resnet_pipeline.trading.fills import (
    Position,
    close_position,
    intrabar_exit,
    signal_exit,
    time_exit_bar,
)
from resnet_pipeline.trading.strategy import StrategyConfig


def first_flag_from(flags: np.ndarray) -> np.ndarray:
    """[n] the first index >= i whose flag is set (n where none is)."""
    n = len(flags)
    marked = np.where(flags, np.arange(n), n)
    return np.minimum.accumulate(marked[::-1])[::-1]


class ExitSearch:
    """The exit search over one run's bars and rules (indexes built once, reused per trade)."""

    def __init__(self, bars: Bars, cfg: StrategyConfig) -> None:
        self.bars, self.cfg = bars, cfg
        self.highs, self.lows = bars.high.tolist(), bars.low.tolist()
        self.trailing = cfg.stop == "trailing"
        self.signal_exit_from = {}
        for side, held in ((1, bars.p_long), (-1, bars.p_short)):
            flags = np.zeros(bars.n, bool)
            if cfg.exit_on_reversal:
                flags |= bars.side == -side
            if cfg.exit_confidence is not None:
                flags |= held < cfg.exit_confidence  # NaN (no prediction) is never below
            self.signal_exit_from[side] = first_flag_from(flags)

    def trade_of(self, pos: Position) -> tuple[dict, int | None]:
        """The trade ``pos`` becomes, and the next decision bar (None: the data ended)."""
        bars, cfg, last = self.bars, self.cfg, self.bars.n - 1
        time_bar = time_exit_bar(bars, pos, cfg)
        decided = min(int(self.signal_exit_from[pos.side][pos.entry_bar]), time_bar - 1)
        touched = self.first_touch(pos, min(decided, last))
        if touched is not None:
            j, level = touched
            price, reason = intrabar_exit(pos, level, bars.open[j], bars.high[j], bars.low[j], cfg)
            return close_position(bars, pos, j, price, reason, cfg), j
        if decided >= last:
            return close_position(bars, pos, last, bars.close[last], "end", cfg), None
        reason = signal_exit(bars, pos, decided, time_bar, cfg)
        assert reason is not None, f"no signal exit at bar {decided}"
        trade = close_position(bars, pos, decided + 1, bars.open[decided + 1], reason, cfg)
        return trade, (decided if reason == "reversal" else decided + 1)

    def first_touch(self, pos: Position, until: int) -> tuple[int, float] | None:
        """The first bar from the entry to ``until`` (inclusive) whose range reaches the stop
        or the take profit (NaN when disabled: never), with the stop level in force there."""
        highs, lows, tp = self.highs, self.lows, pos.take_profit
        bars = range(pos.entry_bar, until + 1)
        if not self.trailing:
            level = pos.stop0
            if pos.side > 0:
                for j in bars:
                    if lows[j] <= level or highs[j] >= tp:
                        return j, level
            else:
                for j in bars:
                    if highs[j] >= level or lows[j] <= tp:
                        return j, level
            return None
        extreme, trail = pos.entry_price, pos.trail  # peak (long) or trough (short) so far
        if pos.side > 0:
            for j in bars:
                level = extreme - trail
                if lows[j] <= level or highs[j] >= tp:
                    return j, level
                if highs[j] > extreme:
                    extreme = highs[j]
        else:
            for j in bars:
                level = extreme + trail
                if highs[j] >= level or lows[j] <= tp:
                    return j, level
                if lows[j] < extreme:
                    extreme = lows[j]
        return None

"""The bars a backtest walks: times, prices, ATR and the model's signal at each close."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 60 * MINUTE_NS


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

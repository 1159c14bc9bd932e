"""The bars a backtest walks: times, prices, ATR and the model's signal at each close."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.trading.strategy import StrategyConfig, signals

MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 60 * MINUTE_NS


@dataclass(frozen=True)
class Bars:
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

    @property
    def index(self) -> pd.DatetimeIndex:
        """The bars' times as a UTC index (``pd.to_datetime`` of int64 is far slower)."""
        return utc_index(self.times)

    def day(self, bar: int) -> int:
        return int(self.times[bar]) // DAY_NS

    def week(self, bar: int) -> int:
        """ISO week number since the epoch (1970-01-01 was a Thursday; weeks start Monday)."""
        return (int(self.times[bar]) // DAY_NS + 3) // 7


def utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 nanoseconds since the epoch -> a UTC DatetimeIndex."""
    return pd.DatetimeIndex(np.asarray(ns, np.int64).view("datetime64[ns]")).tz_localize("UTC")


def make_bars(
    times: pd.Series | np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    proba: np.ndarray,
    cfg: StrategyConfig,
) -> Bars:
    """Bars from columns and [N, 3] probabilities (Down, Neutral, Up), signals per ``cfg``."""
    ns = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns").asi8
    proba = np.asarray(proba, np.float64)
    side, _ = signals(proba, cfg)
    arrays = [np.asarray(a, np.float64) for a in (open_, high, low, close, atr)]
    return Bars(ns, *arrays, side=side, p_long=proba[:, 2], p_short=proba[:, 0])

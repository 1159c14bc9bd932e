"""Candles placed on the complete 1-minute grid, for channels defined over clock minutes.

Why a grid: an aggregate "of the last 60 minutes" must cover 60 minutes of time even where
candles are missing, and a window's value must depend only on the candles inside it (not on
where the series began), so that a month computed after its history equals the whole series.
Missing minutes are NaN (prices) or 0 (volume) on the grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MINUTE_NS = 60 * 1_000_000_000


def epoch_ns(timestamps: pd.Series) -> np.ndarray:
    """tz-aware timestamps as int64 nanoseconds since the epoch."""
    return (
        timestamps.dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy("datetime64[ns]")
        .view(np.int64)
    )


class MinuteGrid:
    """Minutes ``start_ns``, ``start_ns + 1 min``, ... (``size`` of them)."""

    def __init__(self, start_ns: int, size: int) -> None:
        self.start_ns = int(start_ns)
        self.size = int(size)

    @classmethod
    def spanning(cls, timestamps: pd.Series, before: int = 0) -> MinuteGrid:
        """From ``before`` minutes ahead of the first timestamp to the last one."""
        ns = epoch_ns(timestamps)
        start = int(ns[0]) - before * MINUTE_NS
        return cls(start, (int(ns[-1]) - start) // MINUTE_NS + 1)

    def positions(self, timestamps: pd.Series) -> np.ndarray:
        """Grid index of each timestamp (may fall outside [0, size))."""
        return (epoch_ns(timestamps) - self.start_ns) // MINUTE_NS

    def place(self, timestamps: pd.Series, values: np.ndarray, fill: float) -> np.ndarray:
        """``values`` at their minutes, ``fill`` elsewhere; rows outside the grid are dropped."""
        grid = np.full(self.size, fill, dtype=np.float64)
        at = self.positions(timestamps)
        inside = (at >= 0) & (at < self.size)
        grid[at[inside]] = np.asarray(values, np.float64)[inside]
        return grid

    @staticmethod
    def trailing(grid: np.ndarray, minutes: int, at: np.ndarray, fill: float) -> np.ndarray:
        """[len(at), minutes]: the grid values of the ``minutes`` minutes ending at each of
        ``at`` (oldest first); minutes before the grid's start read ``fill``."""
        padded = np.concatenate([np.full(minutes - 1, fill), grid])
        return np.lib.stride_tricks.sliding_window_view(padded, minutes)[at]

"""The `multi_timeframe` family: 5-, 15- and 60-minute aggregates known at the minute.

The k-minute aggregate at t is the candle of the minutes (t - k, t]: its open is the open of
the oldest candle in them, its close the close at t, high and low the extremes, volume the
sum. No aggregate uses a candle after t. Missing minutes are simply absent from an aggregate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.family import ChannelFamily, over_minutes
from resnet_pipeline.features.minute_grid import MinuteGrid

TIMEFRAMES: tuple[int, ...] = (5, 15, 60)
RATIO_AGGREGATES = 20  # volume ratio: the aggregate's volume over the mean of the last 20
CHANNELS: tuple[str, ...] = tuple(
    f"{measure}_{k}m" for k in TIMEFRAMES for measure in ("log_return", "range", "volume_ratio")
)
HISTORY_MINUTES = RATIO_AGGREGATES * max(TIMEFRAMES)


def _first_present(windows: np.ndarray) -> np.ndarray:
    """The oldest non-NaN value of each row (each row holds at least one)."""
    return windows[np.arange(len(windows)), np.argmax(~np.isnan(windows), axis=1)]


def timeframe_channels(frame: pd.DataFrame, _other: pd.DataFrame | None) -> dict[str, np.ndarray]:
    ts = frame["timestamp"]
    grid = MinuteGrid.spanning(ts)
    at = grid.positions(ts)
    close = frame["close"].to_numpy(np.float64)
    opens, highs, lows = (
        grid.place(ts, frame[c].to_numpy(np.float64), np.nan) for c in ("open", "high", "low")
    )
    volume = grid.place(ts, frame["volume"].to_numpy(np.float64), 0.0)
    out: dict[str, np.ndarray] = {}
    for k in TIMEFRAMES:
        every_minute = np.arange(grid.size)
        # each minute's k-aggregate volume, summed window by window (never running sums, whose
        # rounding would depend on where the series began)
        k_volume = MinuteGrid.trailing(volume, k, every_minute, 0.0).sum(axis=1)
        earlier = at[:, None] - k * np.arange(RATIO_AGGREGATES)[None, :]
        mean_volume = np.where(earlier >= 0, k_volume[np.maximum(earlier, 0)], 0.0).mean(axis=1)
        high = np.nanmax(MinuteGrid.trailing(highs, k, at, np.nan), axis=1)
        low = np.nanmin(MinuteGrid.trailing(lows, k, at, np.nan), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"log_return_{k}m"] = np.log(
                close / _first_present(MinuteGrid.trailing(opens, k, at, np.nan))
            )
            out[f"range_{k}m"] = (high - low) / close
            # no volume in 20 aggregates: the current (zero) volume is "as usual"
            out[f"volume_ratio_{k}m"] = np.where(mean_volume > 0, k_volume[at] / mean_volume, 1.0)
    return out


MULTI_TIMEFRAME = ChannelFamily(
    name="multi_timeframe",
    channels=CHANNELS,
    history_minutes=HISTORY_MINUTES,
    compute=over_minutes(CHANNELS, HISTORY_MINUTES, timeframe_channels),
)

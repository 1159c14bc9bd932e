"""The `cross_asset` family: another stored symbol's log return and volume ratio on the
traded symbol's minutes.

At minute t: ln(close_o[t] / close_o[t - 1 min]) and volume_o[t] / the mean volume of the other
symbol's candles in the 20 minutes ending at t (1.0 when they traded nothing). A minute the
other symbol lacks gives NaN (and its log return NaN at the next minute too), so windows over
it are excluded as the traded symbol's own gaps are. ``other`` must hold the other symbol's
candles from ``HISTORY_MINUTES`` before the first candle on (the months the history spans).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.family import ChannelFamily, over_minutes
from resnet_pipeline.features.minute_grid import MinuteGrid

VOLUME_MINUTES = 20
HISTORY_MINUTES = VOLUME_MINUTES
CHANNELS: tuple[str, ...] = ("cross_log_return", "cross_volume_ratio")


def cross_channels(frame: pd.DataFrame, other: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if other is None:
        raise ValueError(
            "the cross_asset family needs the other symbol's candles (over the same months as "
            "the traded symbol's, plus their history): pass them as `other`"
        )
    ts = frame["timestamp"]
    grid = MinuteGrid.spanning(ts, before=HISTORY_MINUTES)
    at = grid.positions(ts)
    close = grid.place(other["timestamp"], other["close"].to_numpy(np.float64), np.nan)
    volume = grid.place(other["timestamp"], other["volume"].to_numpy(np.float64), np.nan)
    windows = MinuteGrid.trailing(volume, VOLUME_MINUTES, at, np.nan)
    present = (~np.isnan(windows)).sum(axis=1)  # >= 1 wherever the minute itself is present
    now = volume[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nansum(windows, axis=1) / present
        ratio = np.where(np.isnan(now), np.nan, np.where(mean > 0, now / mean, 1.0))
        log_return = np.log(close[at] / close[at - 1])
    return {"cross_log_return": log_return, "cross_volume_ratio": ratio}


CROSS_ASSET = ChannelFamily(
    name="cross_asset",
    channels=CHANNELS,
    history_minutes=HISTORY_MINUTES,
    compute=over_minutes(CHANNELS, HISTORY_MINUTES, cross_channels),
    needs_other_symbol=True,
)

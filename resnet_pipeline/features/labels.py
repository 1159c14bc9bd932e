"""3-class direction labels (SPEC 5), missing where the future is not known yet."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DOWN, NEUTRAL, UP = 0, 1, 2
CLASS_NAMES = ("Down", "Neutral", "Up")


@dataclass(frozen=True)
class LabelConfig:
    forward_window: int = 12
    threshold: float = 0.002

    def __post_init__(self) -> None:
        if self.forward_window < 1:
            raise ValueError(f"forward_window={self.forward_window}: must be at least 1 minute")
        if not 0 <= self.threshold < 1:
            raise ValueError(f"threshold={self.threshold}: must be in [0, 1), e.g. 0.002")


def compute_labels(
    candles: pd.DataFrame,
    following: pd.DataFrame | None = None,
    config: LabelConfig = LabelConfig(),
) -> pd.DataFrame:
    """``future_return = close[t + w minutes] / close[t] - 1`` and its class, per candle.

    The horizon is measured in time, not rows: with a gap in the candles, "12 rows later" can be
    hours later, which is not what the label claims. When the candle at t + w minutes is not
    stored (the tail of the data, or an outage) the label is <NA>, never Neutral.
    ``following``: the next candles (the next month's first rows), used for the tail.
    """
    times = candles["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    later = candles if following is None or following.empty else pd.concat([candles, following])
    later_times = later["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    later_close = later["close"].to_numpy(np.float64)
    order = np.argsort(later_times, kind="stable")
    later_times, later_close = later_times[order], later_close[order]
    target = times + np.timedelta64(config.forward_window, "m")
    pos = np.searchsorted(later_times, target).clip(max=len(later_times) - 1)
    found = later_times[pos] == target
    close = candles["close"].to_numpy(np.float64)
    future_return = np.where(found, later_close[pos] / close - 1.0, np.nan)
    label = np.where(
        future_return > config.threshold,
        UP,
        np.where(future_return < -config.threshold, DOWN, NEUTRAL),
    )
    return pd.DataFrame(
        {
            "timestamp": candles["timestamp"].reset_index(drop=True),
            "label": pd.arrays.IntegerArray(label.astype(np.int8), mask=~found),
            "future_return": future_return,
        }
    )

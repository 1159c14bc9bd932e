"""What a channel family is, and the warm-up rule shared by families defined over minutes.

A family is declared once (``ChannelFamily``): its name, the channels it yields in order, the
history it needs (minutes of candles before the first row it computes), and a pure function
of stored candles (+ that history, + the other symbol's candles for cross-asset) returning
the channels for the candles' rows. Its definition is its entry in SPEC 4 ("Channel
families"); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_DTYPE
from resnet_pipeline.features.minute_grid import MINUTE_NS, epoch_ns

# (candles, history or None, the other symbol's candles or None) -> the family's channels
# (float32) and ``warmup`` (bool), one row per candle.
FamilyFunction = Callable[[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None], pd.DataFrame]
# One continuous frame (history + candles) -> each channel over all its rows (float64).
FrameChannels = Callable[[pd.DataFrame, pd.DataFrame | None], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ChannelFamily:
    name: str
    channels: tuple[str, ...]
    history_minutes: int
    compute: FamilyFunction
    needs_other_symbol: bool = False
    needs_order_flow: bool = False


def over_minutes(channels: tuple[str, ...], minutes: int, frame_channels: FrameChannels):
    """A ``FamilyFunction`` for channels whose value at t depends only on candles in the
    ``minutes`` minutes ending at t: the history is cut to those minutes, and rows within
    ``minutes`` of the series' first candle (the oldest of history and candles) are warm-up,
    NaN, because their windows reach before the data. So a month computed after its history
    equals the whole series, bit for bit."""

    def compute(
        candles: pd.DataFrame, history: pd.DataFrame | None, other: pd.DataFrame | None
    ) -> pd.DataFrame:
        out = pd.DataFrame({name: pd.Series(dtype=FEATURE_DTYPE) for name in channels})
        if candles.empty:
            return out.assign(warmup=pd.Series(dtype=bool))
        first = epoch_ns(candles["timestamp"].iloc[:1])[0]
        origin = first
        parts = [candles]
        if history is not None and not history.empty:
            times = epoch_ns(history["timestamp"])
            origin = min(first, int(times[0]))
            kept = history[(times >= first - minutes * MINUTE_NS) & (times < first)]
            parts = [kept, candles]
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else candles
        frame = frame.reset_index(drop=True)
        offset = len(frame) - len(candles)
        warm = epoch_ns(candles["timestamp"]) - origin < minutes * MINUTE_NS
        values = frame_channels(frame, other)
        columns = {}
        for name in channels:
            value = values[name][offset:]
            value = np.where(np.isfinite(value) & ~warm, value, np.nan)
            columns[name] = value.astype(FEATURE_DTYPE)
        return pd.DataFrame(columns).assign(warmup=warm)

    return compute

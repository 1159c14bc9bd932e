"""Feature and label frames for the dataset tests, with warm-up, gaps and NaN where asked.

The frames have the documented columns of the features asset (timestamp, the 15 channels as
float32, ``warmup``, ``gap_minutes``) and labels come from the real ``compute_labels`` on the
same closes, so the label horizon is the production one (12 minutes in time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, PRICE_CHANNELS
from resnet_pipeline.features.labels import compute_labels


def feature_frames(
    n: int,
    seed: int = 0,
    start: str = "2024-01-01",
    warmup: int = 30,
    drop: slice | list[int] | None = None,
    price: float = 60_000.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` one-minute rows (before ``drop`` removes some, making gaps): features, labels."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    close = price * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    frame = pd.DataFrame({"timestamp": times})
    for name in FEATURE_CHANNELS:
        if name in PRICE_CHANNELS:
            values = close * (1 + (name != "close") * rng.normal(0, 0.0005, n))
        else:
            values = rng.normal(rng.uniform(-2, 2), rng.uniform(0.1, 3), n)
        frame[name] = values.astype(np.float32)
    frame["warmup"] = np.arange(n) < warmup
    if warmup:
        frame.loc[: warmup - 1, ["rsi_14", "macd", "atr_14"]] = np.nan  # undefined indicators
    if drop is not None:
        frame = frame.drop(index=frame.index[drop]).reset_index(drop=True)
    minutes = frame["timestamp"].diff().dt.total_seconds() / 60
    frame["gap_minutes"] = minutes.astype(np.float32)
    labels = compute_labels(frame[["timestamp", "close"]])
    return frame, labels

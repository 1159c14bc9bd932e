"""The newest closed window of stored features, as the model would see it live."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CANDLE = pd.Timedelta(minutes=1)


class NotActionable(ValueError):
    """A window that exists but must not be traded on (stale, over a gap, still warming up)."""


def newest_window(
    features: pd.DataFrame,
    window: int,
    max_gap_minutes: float,
    channels: Sequence[str],
) -> pd.DataFrame:
    """The newest ``window`` rows, refusing windows the model never saw in training.

    Gaps are measured on the assembled timestamps (the stored ``gap_minutes`` of a month's
    first row knows nothing of a missing month before it). Raises ``ValueError`` when fewer
    rows are stored or the model channels hold NaN/inf (a data fault), ``NotActionable`` for
    warm-up rows or a gap."""
    rows = features.sort_values("timestamp").tail(window)
    if len(rows) < window:
        raise ValueError(f"only {len(rows)} feature rows stored; the model needs {window}")
    values = rows[list(channels)].to_numpy(np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        names = [channels[i] for i in np.flatnonzero(bad.any(axis=0))]
        raise ValueError(
            f"the newest window holds {int(bad.sum())} NaN/inf values in {names} (first: "
            f"{channels[col]} at {rows['timestamp'].iloc[row]}): re-materialize features of that "
            "month"
        )
    if rows["warmup"].any():
        raise NotActionable("the newest window still contains warm-up rows (too little history)")
    steps = rows["timestamp"].diff().iloc[1:] / pd.Timedelta(minutes=1)
    if (steps > max_gap_minutes).any():
        at = rows["timestamp"].iloc[1:][(steps > max_gap_minutes).to_numpy()].iloc[-1]
        raise NotActionable(
            f"the newest window spans a gap of {steps.max():g} minutes (> {max_gap_minutes:g}) "
            f"before {at}"
        )
    return rows


def minutes_since_close(rows: pd.DataFrame, now: pd.Timestamp) -> float:
    """Minutes from the close of the newest candle (its open time + 1 minute) to ``now``."""
    newest = pd.Timestamp(rows["timestamp"].iloc[-1])
    newest = newest.tz_localize("UTC") if newest.tzinfo is None else newest
    return (now - (newest + CANDLE)) / pd.Timedelta(minutes=1)

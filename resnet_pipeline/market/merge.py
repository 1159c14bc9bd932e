"""Merging candle frames: the rule every source and every re-fetch shares."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.market.schema import conform, empty_candles


def merge_candles(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Concatenate, sort by time and de-duplicate; on a repeated minute the later frame wins.

    Stored data comes first and fresh data last, so a re-fetched candle replaces the stored one.
    """
    parts = [conform(f) for f in frames if f is not None and len(f)]
    if not parts:
        return empty_candles()
    merged = pd.concat(parts, ignore_index=True)
    merged = merged.drop_duplicates("timestamp", keep="last")
    return merged.sort_values("timestamp", kind="stable").reset_index(drop=True)

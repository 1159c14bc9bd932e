"""The newest closed window of stored features, as the model would see it live."""

import pandas as pd


def newest_window(features: pd.DataFrame, window: int, max_gap_minutes: float) -> pd.DataFrame:
    """The newest ``window`` closed rows, refusing windows the model never saw in training."""
    rows = features.tail(window)
    if len(rows) < window:
        raise ValueError(f"only {len(rows)} feature rows stored; the model needs {window}")
    if rows["warmup"].any():
        raise ValueError("the newest window still contains warm-up rows (too little history)")
    if (rows["gap_minutes"].iloc[1:] > max_gap_minutes).any():
        raise ValueError(f"the newest window spans a gap > {max_gap_minutes} minutes")
    return rows

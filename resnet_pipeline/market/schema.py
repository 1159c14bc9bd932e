"""The candle schema (SPEC 3): columns, dtypes and the conversions every source shares.

A candle frame has columns ``timestamp`` (tz-aware UTC, the candle's open time, nanosecond
resolution) and ``open, high, low, close, volume`` (float64); timestamps are unique, sorted,
on the 1-minute grid. Every source returns this shape, every stored partition holds it; the
rules that check it are in ``quality_rules``, minute arithmetic in ``minute_ranges``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="ns", tz="UTC")


class CandleValidationError(ValueError):
    """A candle frame breaks the schema; the message lists every problem found."""


def empty_candles() -> pd.DataFrame:
    """A valid frame with no rows (a month before listing, a source with nothing new)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in CANDLE_COLUMNS})
    frame["timestamp"] = pd.Series(dtype=TIMESTAMP_DTYPE)
    return frame[list(CANDLE_COLUMNS)]


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Select the schema columns in order with the schema dtypes (no reordering of rows)."""
    missing = [c for c in CANDLE_COLUMNS if c not in df.columns]
    if missing:
        raise CandleValidationError(
            f"candles lack column(s) {missing}: expected {list(CANDLE_COLUMNS)}"
        )
    ts = df["timestamp"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise CandleValidationError(
            f"candles timestamp has dtype {ts.dtype}: it must be tz-aware UTC datetimes"
        )
    # .array, not .to_numpy(): a tz-aware column would become an object array of Timestamps
    # (seconds for a year of minutes). One frame from whole columns, by position.
    columns = {"timestamp": ts.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE).array}
    for col in VALUE_COLUMNS:
        values = df[col]
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="raise")
        columns[col] = values.to_numpy(np.float64)
    return pd.DataFrame(columns)


def from_records(rows: Iterable[Iterable[float]]) -> pd.DataFrame:
    """ccxt-style ``[[ms, open, high, low, close, volume], ...]`` rows as a candle frame."""
    arr = np.asarray(list(rows), dtype="float64").reshape(-1, 6)
    frame = pd.DataFrame(arr[:, 1:], columns=list(VALUE_COLUMNS))
    frame.insert(
        0,
        "timestamp",
        pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True).astype(TIMESTAMP_DTYPE),
    )
    return frame

"""The candle schema (SPEC 3): columns, dtypes and the conversions every source shares.

A candle frame has columns ``timestamp`` (tz-aware UTC, the candle's open time, nanosecond
resolution) and ``open, high, low, close, volume`` (float64); timestamps are unique, sorted,
on the 1-minute grid. Every source returns this shape, every stored partition holds it; the
rules that check it are in ``quality_rules``, minute arithmetic in ``minute_ranges``.

Order flow (``ORDER_FLOW_COLUMNS``: taker-buy base volume and number of trades) is optional:
a frame carries those columns when its source provides them (Binance kline exports do), as
float64 that may be NaN where a row's source lacked them; frames of sources without order
flow (Bybit through ccxt, the synthetic market) have no such columns, which readers take as
nulls (``order_flow_values``). Partitions stored before order flow existed stay valid as they
are.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="ns", tz="UTC")
ORDER_FLOW_COLUMNS: tuple[str, ...] = ("taker_buy_volume", "trades")
# Whether each candle source (RESNET_SOURCE) can deliver order flow. Files: when the exports
# carry the columns (Binance's 12-column klines do); months whose files lack them hold nulls.
ORDER_FLOW_BY_SOURCE: dict[str, bool] = {"bybit": False, "synthetic": False, "files": True}


class CandleValidationError(ValueError):
    """A candle frame breaks the schema; the message lists every problem found."""


def empty_candles() -> pd.DataFrame:
    """A valid frame with no rows (a month before listing, a source with nothing new)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in CANDLE_COLUMNS})
    frame["timestamp"] = pd.Series(dtype=TIMESTAMP_DTYPE)
    return frame[list(CANDLE_COLUMNS)]


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Select the schema columns in order with the schema dtypes (no reordering of rows); the
    order-flow columns the frame has are kept after them."""
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
    for col in (*VALUE_COLUMNS, *(c for c in ORDER_FLOW_COLUMNS if c in df.columns)):
        values = df[col]
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="raise")
        columns[col] = values.to_numpy(np.float64, na_value=np.nan)
    return pd.DataFrame(columns)


def order_flow_values(candles: pd.DataFrame, column: str) -> np.ndarray:
    """One order-flow column as float64, NaN where (or wholly when) the source lacked it."""
    if column not in ORDER_FLOW_COLUMNS:
        raise ValueError(f"{column!r} is not an order flow column: use one of {ORDER_FLOW_COLUMNS}")
    if column not in candles.columns:
        return np.full(len(candles), np.nan)
    return pd.to_numeric(candles[column]).to_numpy(np.float64, na_value=np.nan)


def has_order_flow(source: str) -> bool:
    """Whether candles of ``source`` (a RESNET_SOURCE value) can carry order flow, so a request
    for order-flow channels can be refused up front, naming the source."""
    if source not in ORDER_FLOW_BY_SOURCE:
        raise ValueError(
            f"unknown candle source {source!r}: use one of {', '.join(ORDER_FLOW_BY_SOURCE)}"
        )
    return ORDER_FLOW_BY_SOURCE[source]


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

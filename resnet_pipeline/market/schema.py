"""The candle schema (SPEC 3): columns, dtypes, validation, merging and gap accounting.

A candle frame has columns ``timestamp`` (tz-aware UTC, the candle's open time, nanosecond
resolution) and ``open, high, low, close, volume`` (float64); timestamps are unique, sorted,
on the 1-minute grid. Every source returns this shape, every stored partition holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="ns", tz="UTC")
MINUTE = pd.Timedelta(minutes=1)
_MINUTE_NS = 60_000_000_000


class CandleValidationError(ValueError):
    """A candle frame breaks the schema; the message lists every problem found."""


def empty_candles() -> pd.DataFrame:
    """A valid frame with no rows (a month before listing, a source with nothing new)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in CANDLE_COLUMNS})
    frame["timestamp"] = pd.Series(dtype=TIMESTAMP_DTYPE)
    return frame[list(CANDLE_COLUMNS)]


def to_utc(ts: pd.Timestamp | str | date) -> pd.Timestamp:
    """Any timestamp-like as a UTC, nanosecond Timestamp (naive values are taken as UTC)."""
    out = pd.Timestamp(ts)
    out = out.tz_localize("UTC") if out.tzinfo is None else out.tz_convert("UTC")
    return out.as_unit("ns")


def month_bounds(month: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a calendar month in UTC."""
    start = to_utc(pd.Timestamp(month.year, month.month, 1))
    return start, start + pd.offsets.MonthBegin(1)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Select the schema columns in order with the schema dtypes (no reordering of rows)."""
    missing = [c for c in CANDLE_COLUMNS if c not in df.columns]
    if missing:
        raise CandleValidationError(
            f"candles lack column(s) {missing}: expected {list(CANDLE_COLUMNS)}"
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    ts = df["timestamp"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise CandleValidationError(
            f"candles timestamp has dtype {ts.dtype}: it must be tz-aware UTC datetimes"
        )
    out["timestamp"] = ts.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE).to_numpy()
    for col in VALUE_COLUMNS:
        out[col] = pd.to_numeric(df[col], errors="raise").astype("float64").to_numpy()
    return out


@dataclass(frozen=True)
class CheckResult:
    """One data-quality rule applied to a frame: passed or not, how many rows, an example."""

    name: str
    passed: bool
    failing_rows: int
    description: str
    example: str | None = None


def _example(ts: pd.Series, mask: np.ndarray) -> str | None:
    idx = np.flatnonzero(mask)
    return None if idx.size == 0 else str(ts.iloc[int(idx[0])])


def check_timestamps(df: pd.DataFrame, month: date | None = None) -> CheckResult:
    """Unique, strictly increasing, on the minute grid, and (given a month) inside it."""
    ts = df["timestamp"]
    ns = ts.astype(TIMESTAMP_DTYPE).astype("int64").to_numpy() if len(ts) else np.array([], "i8")
    bad = np.zeros(len(ns), dtype=bool)
    problems = []
    off_grid = ns % _MINUTE_NS != 0
    if off_grid.any():
        problems.append(f"{int(off_grid.sum())} off the 1-minute grid")
        bad |= off_grid
    not_increasing = np.zeros(len(ns), dtype=bool)
    not_increasing[1:] = np.diff(ns) <= 0
    if not_increasing.any():
        problems.append(f"{int(not_increasing.sum())} duplicated or out of order")
        bad |= not_increasing
    if month is not None and len(ns):
        start, end = month_bounds(month)
        outside = (ns < start.value) | (ns >= end.value)
        if outside.any():
            problems.append(f"{int(outside.sum())} outside {month:%Y-%m}")
            bad |= outside
    return CheckResult(
        "timestamps",
        not problems,
        int(bad.sum()),
        "timestamps: " + ("; ".join(problems) if problems else "unique, sorted, on grid"),
        _example(ts, bad),
    )


def check_ohlc(df: pd.DataFrame) -> CheckResult:
    """low <= open, close <= high (and so low <= high)."""
    o, h, lo, c = (df[k].to_numpy(dtype="float64") for k in PRICE_COLUMNS)
    with np.errstate(invalid="ignore"):
        bad = (lo > o) | (lo > c) | (o > h) | (c > h) | (lo > h)
    n = int(bad.sum())
    return CheckResult(
        "ohlc_consistent",
        n == 0,
        n,
        f"{n} candles with low > open/close or open/close > high",
        _example(df["timestamp"], bad),
    )


def check_positive_prices(df: pd.DataFrame) -> CheckResult:
    prices = df[list(PRICE_COLUMNS)].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = (prices <= 0).any(axis=1)
    n = int(bad.sum())
    return CheckResult(
        "positive_prices",
        n == 0,
        n,
        f"{n} candles with a price <= 0",
        _example(df["timestamp"], bad),
    )


def check_volume(df: pd.DataFrame) -> CheckResult:
    vol = df["volume"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = vol < 0
    n = int(bad.sum())
    return CheckResult(
        "volume_non_negative",
        n == 0,
        n,
        f"{n} candles with negative volume",
        _example(df["timestamp"], bad),
    )


def check_no_nan(df: pd.DataFrame) -> CheckResult:
    bad = df[list(CANDLE_COLUMNS)].isna().to_numpy().any(axis=1)
    n = int(bad.sum())
    return CheckResult(
        "no_nan", n == 0, n, f"{n} candles with a missing value", _example(df["timestamp"], bad)
    )


def run_checks(df: pd.DataFrame, month: date | None = None) -> list[CheckResult]:
    """Every blocking rule of SPEC 3, each with its own result (the asset checks use them)."""
    return [
        check_timestamps(df, month),
        check_ohlc(df),
        check_positive_prices(df),
        check_volume(df),
        check_no_nan(df),
    ]


def validate_candles(df: pd.DataFrame, month: date | None = None) -> pd.DataFrame:
    """Return ``df`` conformed to the schema, or raise CandleValidationError listing problems."""
    frame = conform(df)
    failed = [r for r in run_checks(frame, month) if not r.passed]
    if failed:
        where = f" for {month:%Y-%m}" if month is not None else ""
        details = "; ".join(
            r.description + (f" (first at {r.example})" if r.example else "") for r in failed
        )
        raise CandleValidationError(f"invalid candles{where}: {details}")
    return frame


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


def clip_range(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows with start <= timestamp < end."""
    ts = df["timestamp"]
    return df.loc[(ts >= start) & (ts < end)].reset_index(drop=True)


def missing_ranges(
    df: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Maximal [a, b) runs of minutes in [start, end) that have no candle in ``df``."""
    start, end = to_utc(start), to_utc(end)
    if end <= start:
        return []
    total = int((end - start) / MINUTE)
    present = np.zeros(total, dtype=bool)
    if df is not None and len(df):
        ns = df["timestamp"].astype(TIMESTAMP_DTYPE).astype("int64").to_numpy()
        offs = (ns - start.value) // _MINUTE_NS
        offs = offs[(offs >= 0) & (offs < total) & ((ns - start.value) % _MINUTE_NS == 0)]
        present[offs] = True
    missing = ~present
    if not missing.any():
        return []
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    return [
        (start + int(a) * MINUTE, start + int(b) * MINUTE)
        for a, b in zip(run_starts, run_ends, strict=True)
    ]


@dataclass(frozen=True)
class GapSummary:
    """Coverage of a window of minutes: what a reader checks before trusting a month."""

    expected_minutes: int
    present_minutes: int
    gaps: int
    longest_gap_minutes: int

    @property
    def missing_minutes(self) -> int:
        return self.expected_minutes - self.present_minutes

    @property
    def share_present(self) -> float:
        return 1.0 if self.expected_minutes == 0 else self.present_minutes / self.expected_minutes


def gap_summary(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> GapSummary:
    """Expected vs present minutes of [start, end), number of missing runs and the longest."""
    start, end = to_utc(start), to_utc(end)
    expected = max(int((end - start) / MINUTE), 0)
    runs = missing_ranges(df, start, end)
    lengths = [int((b - a) / MINUTE) for a, b in runs]
    return GapSummary(
        expected_minutes=expected,
        present_minutes=expected - sum(lengths),
        gaps=len(runs),
        longest_gap_minutes=max(lengths, default=0),
    )


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

"""Minute arithmetic over candle frames: month bounds, missing runs, gaps between candles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from resnet_pipeline.market.schema import TIMESTAMP_DTYPE

MINUTE = pd.Timedelta(minutes=1)
MINUTE_NS = 60_000_000_000


def to_utc(ts: pd.Timestamp | str | date) -> pd.Timestamp:
    """Any timestamp-like as a UTC, nanosecond Timestamp (naive values are taken as UTC)."""
    out = pd.Timestamp(ts)
    out = out.tz_localize("UTC") if out.tzinfo is None else out.tz_convert("UTC")
    return out.as_unit("ns")


def month_bounds(month: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a calendar month in UTC."""
    start = to_utc(pd.Timestamp(month.year, month.month, 1))
    return start, start + pd.offsets.MonthBegin(1)


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
        offs = (ns - start.value) // MINUTE_NS
        offs = offs[(offs >= 0) & (offs < total) & ((ns - start.value) % MINUTE_NS == 0)]
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
    """Coverage of a window of minutes: what a reader checks before trusting a month.

    A gap is a run of missing minutes between two candles. The stretch before the first
    candle (not listed yet) and after the newest one (not fetched or not closed yet) are
    counted apart, never as gaps; a window without candles is all "before the first".
    """

    expected_minutes: int
    present_minutes: int
    gap_ranges: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    before_first_minutes: int
    after_last_minutes: int

    @property
    def gaps(self) -> int:
        return len(self.gap_ranges)

    @property
    def gap_minutes(self) -> int:
        return sum(int((b - a) / MINUTE) for a, b in self.gap_ranges)

    @property
    def longest_gap_minutes(self) -> int:
        return max((int((b - a) / MINUTE) for a, b in self.gap_ranges), default=0)

    @property
    def missing_minutes(self) -> int:
        """Every minute without a candle: gaps, before the first and after the newest."""
        return self.expected_minutes - self.present_minutes

    @property
    def share_present(self) -> float:
        return 1.0 if self.expected_minutes == 0 else self.present_minutes / self.expected_minutes


def gap_summary(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> GapSummary:
    """Expected vs present minutes of [start, end), the gaps between candles, the edges."""
    start, end = to_utc(start), to_utc(end)
    expected = max(int((end - start) / MINUTE), 0)
    runs = missing_ranges(df, start, end)
    lengths = [int((b - a) / MINUTE) for a, b in runs]
    missing = sum(lengths)
    if missing == expected:  # no candle at all
        return GapSummary(expected, 0, (), expected, 0)
    leading = lengths[0] if runs and runs[0][0] == start else 0
    trailing = lengths[-1] if runs and runs[-1][1] == end else 0
    inner = runs[(1 if leading else 0) : len(runs) - (1 if trailing else 0)]
    return GapSummary(expected, expected - missing, tuple(inner), leading, trailing)

"""Ingestion of one symbol-month, written once for every source.

Given what is stored (or nothing), the month and the current time: find the minutes that
are missing (holes and everything after the last stored candle, before the forming one),
fetch them with as few source requests as possible, merge, de-duplicate and validate. The
caller writes the result only when this returns, so a failure never touches stored data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.minute_ranges import (
    MINUTE,
    GapSummary,
    clip_range,
    gap_summary,
    missing_ranges,
    month_bounds,
    to_utc,
)
from resnet_pipeline.market.quality_rules import validate_candles
from resnet_pipeline.market.source import CandleSource

Range = tuple[pd.Timestamp, pd.Timestamp]


class FutureMonthError(ValueError):
    """The month has not started yet: there is nothing to ingest."""


@dataclass(frozen=True)
class IngestResult:
    candles: pd.DataFrame
    month: date
    window: Range  # [month start, min(month end, forming candle)): the minutes that can exist
    closed: bool  # the month is over: nothing will be added any more
    fetched: list[Range]
    new_rows: int
    requests: int
    summary: GapSummary
    notes: list[str] = field(default_factory=list)


def month_window(month: date, now: pd.Timestamp) -> tuple[Range, bool]:
    """The minutes of ``month`` whose candles are closed at ``now``, and whether it is over."""
    start, end = month_bounds(month)
    now = to_utc(now)
    if now < start:
        raise FutureMonthError(
            f"month {month:%Y-%m} is in the future (now is {now:%Y-%m-%d %H:%M:%S} UTC): "
            "materialize only months that have started"
        )
    horizon = max(start, min(end, now.floor("min")))  # the candle opening at floor(now) forms
    return (start, horizon), now >= end


def plan_requests(missing: list[Range], page_minutes: int | None) -> list[Range]:
    """Cover the missing runs with the fewest page-aligned fetches.

    A page covers ``page_minutes`` minutes from its start; greedy covering from the earliest
    missing minute is optimal for fixed-length pages. Adjacent pages are joined into one
    range (the source paginates from the range start, so its pages coincide with ours).
    Without pages (local sources) one range spans every missing minute.
    """
    if not missing:
        return []
    if page_minutes is None:
        return [(missing[0][0], missing[-1][1])]
    page = page_minutes * MINUTE
    ranges: list[Range] = []
    for a, b in missing:
        pos = a if not ranges else max(a, ranges[-1][1])
        while pos < b:
            if ranges and ranges[-1][1] == pos:
                ranges[-1] = (ranges[-1][0], pos + page)
            else:
                ranges.append((pos, pos + page))
            pos += page
    last = missing[-1][1]
    return [(a, min(b, last)) for a, b in ranges]


def ingest_month(
    source: CandleSource,
    symbol: str,
    month: date,
    now: pd.Timestamp,
    stored: pd.DataFrame | None = None,
) -> IngestResult:
    """Stored candles of ``month`` plus whatever the source has for the missing minutes."""
    (start, horizon), closed = month_window(month, now)
    base = validate_candles(stored, month) if stored is not None and len(stored) else None
    # Stored candles after ``now`` (a run "as of" an earlier time) are kept: never shrink.
    covered = horizon if base is None else max(horizon, base["timestamp"].iloc[-1] + MINUTE)
    missing = missing_ranges(base, start, horizon)
    planned = plan_requests(missing, source.page_minutes)
    before = source.requests
    fetched = [source.fetch(symbol, a, b) for a, b in planned]
    fresh = [clip_range(f, start, horizon) for f in fetched if len(f)]
    candles = validate_candles(merge_candles(base, *fresh), month)
    new_rows = len(candles) - (0 if base is None else len(base))
    summary = gap_summary(candles, start, covered)

    notes: list[str] = []
    if not planned:
        notes.append("already complete: no request made")
    if candles.empty:
        notes.append(
            f"no candles for {symbol} in {month:%Y-%m} up to {horizon:%Y-%m-%d %H:%M}: the symbol "
            "was not listed (or not trading) then; stored an empty partition"
        )
    elif summary.gaps:
        notes.append(
            f"{summary.gap_minutes} minutes missing in {summary.gaps} gap(s), longest "
            f"{summary.longest_gap_minutes} min: left as gaps (never filled with invented prices)"
        )
    return IngestResult(
        candles=candles,
        month=month,
        window=(start, covered),
        closed=closed,
        fetched=planned,
        new_rows=new_rows,
        requests=source.requests - before,
        summary=summary,
        notes=notes,
    )

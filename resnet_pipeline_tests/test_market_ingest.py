"""Ingestion logic shared by every source (synthetic here: the same code path as Bybit)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from resnet_pipeline.market.ingest import FutureMonthError, ingest_month, month_window
from resnet_pipeline.market.schema import CandleValidationError
from resnet_pipeline.market.synthetic import SyntheticSource

JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)
LATER = pd.Timestamp("2024-06-01", tz="UTC")


def test_closed_complete_month_costs_no_request() -> None:
    first = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER)
    assert len(first.candles) == 44_640 and first.closed and first.requests == 1
    source = SyntheticSource(0)
    again = ingest_month(source, "BTCUSDT", JAN, LATER, stored=first.candles)
    assert again.requests == 0 and source.requests == 0 and again.new_rows == 0
    pd.testing.assert_frame_equal(again.candles, first.candles)


def test_future_month_is_an_error() -> None:
    with pytest.raises(FutureMonthError, match="2024-07 is in the future"):
        ingest_month(SyntheticSource(0), "BTCUSDT", date(2024, 7, 1), LATER)


def test_running_month_stops_before_the_forming_candle() -> None:
    now = pd.Timestamp("2024-02-03 10:15:42", tz="UTC")
    (start, horizon), closed = month_window(FEB, now)
    assert horizon == pd.Timestamp("2024-02-03 10:15", tz="UTC") and not closed
    result = ingest_month(SyntheticSource(0), "BTCUSDT", FEB, now)
    assert result.candles["timestamp"].iloc[-1] == pd.Timestamp("2024-02-03 10:14", tz="UTC")
    assert result.summary.expected_minutes == len(result.candles) == 2 * 1440 + 615
    # the first seconds of a month: started, nothing closed yet, an empty valid frame
    early = ingest_month(
        SyntheticSource(0), "BTCUSDT", FEB, pd.Timestamp("2024-02-01 00:00:20", tz="UTC")
    )
    assert early.candles.empty


def test_month_before_listing_is_empty_valid_and_says_so() -> None:
    source = SyntheticSource(0, listings={"NEWUSDT": pd.Timestamp("2024-03-05", tz="UTC")})
    result = ingest_month(source, "NEWUSDT", JAN, LATER)
    assert result.candles.empty and list(result.candles.columns)[0] == "timestamp"
    assert any("not listed" in note for note in result.notes)
    partial = ingest_month(source, "NEWUSDT", date(2024, 3, 1), LATER)
    # the days before the listing are "before the first candle", not a gap (issue 10)
    assert partial.summary.gaps == 0 and partial.summary.before_first_minutes == 4 * 1440


def test_holes_are_refetched_and_stored_rows_kept() -> None:
    full = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER).candles
    holed = full.drop(index=range(1000, 1100)).reset_index(drop=True)
    result = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER, stored=holed)
    assert result.new_rows == 100
    pd.testing.assert_frame_equal(result.candles, full)


def test_invalid_stored_partition_is_reported_not_silently_rewritten() -> None:
    stored = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER).candles
    stored.loc[5, "high"] = 0.0
    with pytest.raises(CandleValidationError, match="low > open/close"):
        ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER, stored=stored)


def test_an_earlier_as_of_never_shrinks_what_is_stored() -> None:
    stored = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, LATER).candles
    earlier = pd.Timestamp("2024-01-10", tz="UTC")
    result = ingest_month(SyntheticSource(0), "BTCUSDT", JAN, earlier, stored=stored)
    assert result.requests == 0
    pd.testing.assert_frame_equal(result.candles, stored)
    assert result.summary.expected_minutes == result.summary.present_minutes == 44_640

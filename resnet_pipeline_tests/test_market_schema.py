"""Candle schema: validation names each problem; merging, gaps and request planning."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.market.ingest import plan_requests
from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.minute_ranges import MINUTE, gap_summary, missing_ranges
from resnet_pipeline.market.quality_rules import validate_candles
from resnet_pipeline.market.schema import CandleValidationError, empty_candles, from_records
from resnet_pipeline.market.synthetic import SyntheticSource

T0 = pd.Timestamp("2024-01-01", tz="UTC")
JAN = date(2024, 1, 1)


def _candles(n: int = 30, start: pd.Timestamp = T0) -> pd.DataFrame:
    return SyntheticSource(0).fetch("BTCUSDT", start, start + n * MINUTE)


def test_valid_frame_passes_and_empty_is_valid() -> None:
    validate_candles(_candles(), JAN)
    validate_candles(empty_candles(), JAN)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: d.assign(timestamp=d["timestamp"].iloc[::-1].to_numpy()), "out of order"),
        (lambda d: pd.concat([d, d.iloc[[3]]]).reset_index(drop=True), "duplicated"),
        (
            lambda d: d.assign(timestamp=d["timestamp"] + pd.Timedelta(seconds=1)),
            "off the 1-minute grid",
        ),
        (lambda d: d.assign(timestamp=d["timestamp"] - pd.Timedelta(days=1)), "outside 2024-01"),
        (lambda d: d.assign(high=d["low"] - 1.0), "low > open/close"),
        (lambda d: d.assign(low=-d["low"]), "price <= 0"),
        (lambda d: d.assign(volume=-1.0), "negative volume"),
        (lambda d: d.assign(close=np.where(d.index == 5, np.nan, d["close"])), "missing value"),
    ],
)
def test_each_problem_is_named(corrupt, message: str) -> None:
    with pytest.raises(CandleValidationError, match=message):
        validate_candles(corrupt(_candles()), JAN)


def test_wrong_columns_and_naive_timestamps_are_rejected() -> None:
    with pytest.raises(CandleValidationError, match="lack column"):
        validate_candles(_candles().drop(columns="volume"))
    with pytest.raises(CandleValidationError, match="tz-aware"):
        validate_candles(_candles().assign(timestamp=lambda d: d["timestamp"].dt.tz_localize(None)))


def test_merge_dedupes_sorts_and_later_frames_win() -> None:
    base = _candles(10)
    newer = base.iloc[5:].assign(volume=99.0)
    merged = merge_candles(newer, None, base.iloc[:7])  # the later frame wins on overlap
    assert merged["timestamp"].is_monotonic_increasing and len(merged) == 10
    assert (merged["volume"].iloc[5:7] != 99.0).all()
    merged = merge_candles(base.iloc[:7], newer)
    assert (merged["volume"].iloc[5:] == 99.0).all()
    assert merge_candles().empty


def test_gap_summary_counts_runs_between_candles_only() -> None:
    df = _candles(100).drop(index=[0, 1, 50, 60, 61, 62, 99])
    summary = gap_summary(df, T0, T0 + 100 * MINUTE)
    assert (summary.expected_minutes, summary.present_minutes) == (100, 93)
    assert summary.gaps == 2 and summary.longest_gap_minutes == 3 and summary.gap_minutes == 4
    assert summary.gap_ranges == (
        (T0 + 50 * MINUTE, T0 + 51 * MINUTE),
        (T0 + 60 * MINUTE, T0 + 63 * MINUTE),
    )
    assert (summary.before_first_minutes, summary.after_last_minutes) == (2, 1)
    assert summary.missing_minutes == 7
    assert missing_ranges(df, T0, T0 + 100 * MINUTE)[0] == (T0, T0 + 2 * MINUTE)
    nothing = gap_summary(empty_candles(), T0, T0 + 100 * MINUTE)
    assert (nothing.gaps, nothing.before_first_minutes, nothing.after_last_minutes) == (0, 100, 0)


@settings(max_examples=100, deadline=None)
@given(present=st.lists(st.booleans(), min_size=1, max_size=300))
def test_gaps_and_edges_account_for_every_missing_minute(present: list[bool]) -> None:
    mask = np.array(present)
    ts = T0 + pd.to_timedelta(np.flatnonzero(mask), unit="min")
    df = pd.DataFrame({"timestamp": pd.Series(ts).astype("datetime64[ns, UTC]")})
    summary = gap_summary(df, T0, T0 + len(mask) * MINUTE)
    edges = summary.before_first_minutes + summary.after_last_minutes
    assert summary.gap_minutes + edges == summary.missing_minutes == int((~mask).sum())
    for a, b in summary.gap_ranges:  # a gap has a candle on each side
        i, j = int((a - T0) / MINUTE), int((b - T0) / MINUTE)
        assert mask[i - 1] and mask[j] and not mask[i:j].any() and i > 0
    if mask.any():
        first, last = np.flatnonzero(mask)[[0, -1]]
        assert (summary.before_first_minutes, summary.after_last_minutes) == (
            first,
            len(mask) - 1 - last,
        )


def test_from_records_reads_ccxt_rows() -> None:
    rows = [[1704067200000, 1.0, 2.0, 0.5, 1.5, 10.0], [1704067260000, 1.5, 2.0, 1.0, 1.2, 3.0]]
    df = validate_candles(from_records(rows))
    assert df["timestamp"].iloc[1] == T0 + MINUTE and df["close"].iloc[0] == 1.5


@settings(max_examples=60, deadline=None)
@given(
    holes=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=40, unique=True),
    page=st.sampled_from([7, 100, 1000]),
)
def test_plan_covers_every_missing_minute_with_few_pages(holes: list[int], page: int) -> None:
    present = np.ones(5001, dtype=bool)
    present[holes] = False
    ts = T0 + pd.to_timedelta(np.flatnonzero(present), unit="min")
    df = pd.DataFrame({"timestamp": pd.Series(ts).astype("datetime64[ns, UTC]")})
    missing = missing_ranges(df, T0, T0 + 5001 * MINUTE)
    plan = plan_requests(missing, page)
    covered = np.zeros(5001, dtype=bool)
    pages = 0
    for a, b in plan:
        i, j = int((a - T0) / MINUTE), int((b - T0) / MINUTE)
        covered[i:j] = True
        pages += -(-(j - i) // page)  # a source paginates each range from its start
    assert covered[holes].all()
    # greedy lower bound: no plan with fixed pages can use fewer than this
    greedy, end = 0, -1
    for h in sorted(holes):
        if h >= end:
            greedy, end = greedy + 1, h + page
    assert pages == greedy

"""The synthetic market: deterministic, random access, seamless, and market-like."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.market.quality_rules import validate_candles
from resnet_pipeline.market.schema import CANDLE_COLUMNS, TIMESTAMP_DTYPE
from resnet_pipeline.market.synthetic import EPOCH, SyntheticSource

YEAR_START = pd.Timestamp("2024-01-01", tz="UTC")


def _fetch(start: str, end: str, symbol: str = "BTCUSDT", seed: int = 0) -> pd.DataFrame:
    return SyntheticSource(seed).fetch(
        symbol, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    )


def test_schema_and_every_minute_present() -> None:
    df = _fetch("2024-01-01", "2024-02-01")
    assert tuple(df.columns) == CANDLE_COLUMNS
    assert df["timestamp"].dtype == TIMESTAMP_DTYPE
    assert len(df) == 31 * 1440
    validate_candles(df, pd.Timestamp("2024-01-01").date())


def test_months_join_seamlessly() -> None:
    jan, feb = _fetch("2024-01-01", "2024-02-01"), _fetch("2024-02-01", "2024-03-01")
    both = _fetch("2024-01-01", "2024-03-01")
    pd.testing.assert_frame_equal(pd.concat([jan, feb], ignore_index=True), both)
    # the price path continues: February opens where January closed
    assert feb["open"].iloc[0] == jan["close"].iloc[-1]
    assert (both["open"].to_numpy()[1:] == both["close"].to_numpy()[:-1]).all()


@settings(max_examples=15, deadline=None)
@given(
    offset=st.integers(min_value=0, max_value=3 * 1440),
    length=st.integers(min_value=1, max_value=2 * 1440),
)
def test_any_sub_range_is_identical(offset: int, length: int) -> None:
    whole = _fetch("2024-03-30", "2024-04-05")
    start = pd.Timestamp("2024-03-30", tz="UTC") + pd.Timedelta(minutes=offset)
    part = SyntheticSource(0).fetch("BTCUSDT", start, start + pd.Timedelta(minutes=length))
    expected = whole.iloc[offset : offset + length].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)


def test_seeds_and_symbols_differ_and_repeat() -> None:
    a = _fetch("2024-05-01", "2024-05-02")
    assert a.equals(_fetch("2024-05-01", "2024-05-02"))
    assert not np.allclose(a["close"], _fetch("2024-05-01", "2024-05-02", seed=1)["close"])
    eth = _fetch("2024-05-01", "2024-05-02", symbol="ETHUSDT")
    assert eth["close"].median() < a["close"].median() / 5


def test_market_like_statistics_over_a_year() -> None:
    df = SyntheticSource(0).fetch("BTCUSDT", YEAR_START, YEAR_START + pd.Timedelta(days=366))
    assert (df[["open", "high", "low", "close"]] > 0).all().all() and (df["volume"] > 0).all()
    r = np.log(df["close"]).diff().dropna()
    # volatility clusters: |returns| are autocorrelated, returns themselves barely
    assert r.abs().autocorr(1) > 0.15 and r.abs().autocorr(60) > 0.05
    assert abs(r.autocorr(1)) < 0.1
    # fat tails
    kurt = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurt > 4
    # regimes: the monthly realised volatility differs by a clear factor
    monthly_vol = r.groupby(df["timestamp"].iloc[1:].dt.month.to_numpy()).std()
    assert monthly_vol.max() / monthly_vol.min() > 1.5
    # intraday volume seasonality: the US session is busier than the Asian night
    by_hour = df.groupby(df["timestamp"].dt.hour)["volume"].mean()
    assert by_hour[14] > 1.5 * by_hour[4]
    # daily volatility in a crypto-like range
    daily = np.log(df.set_index("timestamp")["close"].resample("D").last()).diff().std()
    assert 0.01 < daily < 0.08


def test_before_listing_and_before_epoch_is_empty() -> None:
    listed = pd.Timestamp("2024-03-10 08:00", tz="UTC")
    source = SyntheticSource(0, listings={"NEWUSDT": listed})
    march = source.fetch(
        "NEWUSDT", pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-04-01", tz="UTC")
    )
    assert march["timestamp"].iloc[0] == listed
    assert source.fetch("NEWUSDT", pd.Timestamp("2024-02-01", tz="UTC"), listed).empty
    assert SyntheticSource(0).fetch("BTCUSDT", EPOCH - pd.Timedelta(days=3), EPOCH).empty

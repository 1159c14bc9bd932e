"""Dates in candle file names: the accepted patterns, and digits that are not dates."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.market.file_periods import FIRST_YEAR, LAST_YEAR, named_period


def _day(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(text, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def _month(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(text, tz="UTC")
    return start, start + pd.offsets.MonthBegin(1)


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("BTCUSDT-1m-2024-01-15.csv", _day("2024-01-15")),  # Binance daily
        ("BTCUSDT-1m-2024-01.csv", _month("2024-01")),  # Binance monthly
        ("BTCUSDT_20240115.csv.gz", _day("2024-01-15")),
        ("BTCUSDT_2024_01_15.parquet", _day("2024-01-15")),
        ("BTCUSDT-1-2024-01-15.csv", _day("2024-01-15")),  # interval digit before the date
        ("BTCUSDT-2024-01-15-00-00.csv", _day("2024-01-15")),  # time of day after it
        ("BTCUSDT-2024-02-29.csv", _day("2024-02-29")),
        (
            "BTCUSDT_2024-01-01_2024-03-31.parquet",
            (_day("2024-01-01")[0], _day("2024-03-31")[1]),
        ),
        ("BTCUSDT_20240101-20240131.csv", _month("2024-01")),
        ("BTCUSDT_2024-01_2024-03.csv", (_month("2024-01")[0], _month("2024-03")[1])),
    ],
)
def test_accepted_names_give_their_utc_period(
    name: str, period: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    assert named_period(name) == period


@pytest.mark.parametrize(
    "name",
    [
        "BTCUSDT.csv",
        "BTCUSDT-1m-ms.csv",
        "2024.parquet",  # a year alone
        "BTCUSDT_202401.csv",  # six digits are not a month
        "BTCUSDT_1704067200000.csv",  # an epoch number
        "BTCUSDT_20240115123000.csv",  # a date-time run of 14 digits
        "BTCUSDT-2024-01-1500.csv",  # a month followed by stray digits
        "BTCUSDT_2024-01_1.csv",  # a month followed by a part number
        "BTCUSDT_2024-13.csv",  # no month 13
        "BTCUSDT_2024-02-30.csv",  # no such day: the whole name says nothing
        "BTCUSDT_1999-01-15.csv",  # outside 2009..2099
        "BTCUSDT_2024-03_2024-01.csv",  # two dates out of order
        "BTCUSDT_2024-01-01_2024-02-01_2024-03-01.csv",  # three dates
    ],
)
def test_other_digits_say_nothing(name: str) -> None:
    assert named_period(name) is None


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)),
    style=st.sampled_from(["%Y-%m-%d", "%Y_%m_%d", "%Y%m%d", "%Y-%m", "%Y_%m"]),
    prefix=st.sampled_from(["BTCUSDT-1m-", "ETHUSDT_", "BTCUSDT-15-", ""]),
    suffix=st.sampled_from([".csv", ".csv.gz", ".parquet", "-v.csv"]),
)
def test_a_formatted_date_is_read_back(day: date, style: str, prefix: str, suffix: str) -> None:
    name = f"{prefix}{day.strftime(style)}{suffix}"
    expected = _day(day.isoformat()) if "%d" in style else _month(f"{day:%Y-%m}")
    assert named_period(name) == expected

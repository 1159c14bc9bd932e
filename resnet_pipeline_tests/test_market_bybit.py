"""The Bybit source through real ccxt over HTTP to a local Bybit-v5-compatible server."""

from __future__ import annotations

import json
import math
import urllib.request
from datetime import date

import pandas as pd
import pytest

from resnet_pipeline.market.bybit import BybitSource, RetryPolicy
from resnet_pipeline.market.ingest import ingest_month
from resnet_pipeline.market.source import SourceUnavailableError, UnknownSymbolError
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline_tests import _ingestion_helpers as helpers
from resnet_pipeline_tests._ingestion_helpers import FAST_RETRY, bybit_on, utc
from resnet_pipeline_tests.fake_bybit import FakeBybit

server = helpers.server  # the module's fake exchange
fake = helpers.fake  # ... reset for each test

JAN = date(2024, 1, 1)
FEB = date(2024, 2, 1)


def _truth(start: str, end: str, symbol: str = "BTCUSDT") -> pd.DataFrame:
    return SyntheticSource(seed=0).fetch(symbol, utc(start), utc(end))


def _page_spans_minutes(fake: FakeBybit) -> list[float]:
    return [(int(p["end"]) - int(p["start"])) / 60_000 for p in fake.kline_params]


def test_fake_server_answers_like_bybit_newest_limit_first(fake: FakeBybit) -> None:
    start = int(utc("2024-01-01").value // 1_000_000)
    end = start + 1500 * 60_000  # 1501 candles in range, limit 1000: the newest 1000 come back
    query = f"category=spot&symbol=BTCUSDT&interval=1&start={start}&end={end}&limit=1000"
    url = f"{fake.url}/v5/market/kline?{query}"
    with urllib.request.urlopen(url) as response:
        body = json.loads(response.read())
    rows = body["result"]["list"]
    assert body["retCode"] == 0 and len(rows) == 1000
    assert all(isinstance(v, str) for v in rows[0])
    assert int(rows[0][0]) == end and int(rows[-1][0]) == end - 999 * 60_000  # newest first


def test_a_31_day_month_lands_complete(fake: FakeBybit) -> None:
    source = bybit_on(fake)
    result = ingest_month(source, "BTCUSDT", JAN, now=fake.now)
    assert len(result.candles) == 44_640
    assert result.closed and result.summary.gaps == 0
    pd.testing.assert_frame_equal(result.candles, _truth("2024-01-01", "2024-02-01"))
    assert fake.kline_requests == math.ceil(44_640 / 1000) == result.requests - 1  # + markets
    assert max(_page_spans_minutes(fake)) <= 999  # never more candles than the limit


def test_rate_limits_and_server_errors_are_retried(fake: FakeBybit) -> None:
    fake.inject("rate_limit", "http500", "http403", "server_error", "http500")  # 5 in a row
    source = bybit_on(fake, retry=RetryPolicy(max_tries=6, base_delay=0.001))
    result = ingest_month(source, "BTCUSDT", JAN, now=fake.now)
    assert len(result.candles) == 44_640
    assert not result.candles["timestamp"].duplicated().any()
    pd.testing.assert_frame_equal(result.candles, _truth("2024-01-01", "2024-02-01"))
    assert source.retries == 5
    assert fake.kline_requests == 45 + 5


def test_timeouts_are_retried(fake: FakeBybit) -> None:
    fake.slow_seconds = 0.4
    fake.inject("timeout")
    source = BybitSource(
        base_url=fake.url, retry=FAST_RETRY, rate_limit_ms=1, timeout_ms=150, clock=lambda: fake.now
    )
    candles = source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-05 12:00"))
    assert len(candles) == 720 and source.retries == 1


def test_month_before_listing_is_empty_with_a_note() -> None:
    listings = {"NEWUSDT": utc("2024-03-28")}
    source = SyntheticSource(0, listings=listings)
    with FakeBybit(now="2024-04-01 00:00:30", symbols=["NEWUSDT"], source=source) as fake:
        result = ingest_month(bybit_on(fake), "NEWUSDT", FEB, now=utc("2024-04-01"))
        assert result.candles.empty and result.closed
        assert any("not listed" in note for note in result.notes)
        march = ingest_month(bybit_on(fake), "NEWUSDT", date(2024, 3, 1), now=utc("2024-04-01"))
        assert march.candles["timestamp"].iloc[0] == utc("2024-03-28")
        assert len(march.candles) == 4 * 1440


def test_persistent_failure_fails_clearly_after_bounded_tries(fake: FakeBybit) -> None:
    fake.persistent_fault = "http500"
    source = bybit_on(fake)
    with pytest.raises(SourceUnavailableError, match=r"BTCUSDT.*after 4 tries"):
        ingest_month(source, "BTCUSDT", JAN, now=fake.now)
    assert fake.kline_requests == 4


def test_incremental_run_requests_only_the_new_candles(fake: FakeBybit) -> None:
    first = ingest_month(bybit_on(fake), "BTCUSDT", FEB, now=utc("2024-02-05 00:00:30"))
    assert len(first.candles) == 4 * 1440 and not first.closed
    assert fake.kline_requests == math.ceil(4 * 1440 / 1000)

    fake.reset_counts()
    now = utc("2024-02-06 06:30:10")
    second = ingest_month(bybit_on(fake), "BTCUSDT", FEB, now=now, stored=first.candles)
    assert second.new_rows == 1440 + 390
    assert fake.kline_requests == math.ceil((1440 + 390) / 1000) == 2
    assert int(fake.kline_params[0]["start"]) == utc("2024-02-05").value // 1_000_000
    pd.testing.assert_frame_equal(second.candles, _truth("2024-02-01", "2024-02-06 06:30"))

    fake.reset_counts()
    third = ingest_month(bybit_on(fake), "BTCUSDT", FEB, now=now, stored=second.candles)
    assert fake.kline_requests == 0 and third.new_rows == 0
    assert "no request" in " ".join(third.notes)


def test_scattered_holes_cost_one_request_per_page(fake: FakeBybit) -> None:
    full = _truth("2024-01-01", "2024-02-01")
    holes = full.drop(index=[10, 500, 900, 20_000, 44_639]).reset_index(drop=True)
    fake.reset_counts()
    result = ingest_month(bybit_on(fake), "BTCUSDT", JAN, now=fake.now, stored=holes)
    assert result.new_rows == 5
    assert fake.kline_requests == 3  # [10..1010) covers three holes; 20000 and 44639 one each
    pd.testing.assert_frame_equal(result.candles, full)


def test_forming_candle_is_never_returned(fake: FakeBybit) -> None:
    fake.now = utc("2024-02-10 12:00:30")  # the 12:00 candle is forming
    source = bybit_on(fake)
    candles = source.fetch("BTCUSDT", utc("2024-02-10 10:00"), utc("2024-02-11"))
    assert candles["timestamp"].iloc[-1] == utc("2024-02-10 11:59")
    result = ingest_month(bybit_on(fake), "BTCUSDT", FEB, now=fake.now)
    assert result.candles["timestamp"].max() == utc("2024-02-10 11:59")
    assert result.summary.expected_minutes == result.summary.present_minutes
    forming_ms = utc("2024-02-10 12:00").value // 1_000_000
    assert all(int(p["end"]) < forming_ms for p in fake.kline_params)


def test_unknown_symbol_fails_naming_it(fake: FakeBybit) -> None:
    with pytest.raises(UnknownSymbolError, match="DOGEUSDT"):
        bybit_on(fake).fetch("DOGEUSDT", utc("2024-01-01"), utc("2024-01-02"))
    assert fake.kline_requests == 0


def test_kline_retcode_10001_is_permanent_and_names_the_symbol(fake: FakeBybit) -> None:
    fake.kline_unknown.add("ETHUSDT")
    with pytest.raises(UnknownSymbolError, match="ETHUSDT"):
        bybit_on(fake).fetch("ETHUSDT", utc("2024-01-01"), utc("2024-01-02"))
    assert fake.kline_requests == 1  # not retried


def test_linear_market_is_selectable(fake: FakeBybit) -> None:
    candles = bybit_on(fake, market="linear").fetch("ETHUSDT", utc("2024-01-03"), utc("2024-01-04"))
    assert len(candles) == 1440
    assert {p["category"] for p in fake.kline_params} == {"linear"}
    pd.testing.assert_frame_equal(candles, _truth("2024-01-03", "2024-01-04", "ETHUSDT"))

"""The Bybit source under faults (issue 11): malformed replies, trickling servers, credentials.

Real ccxt over HTTP to the local fake exchange; the fault modes live in ``fake_bybit.py``.
Tests that a hanging client would block run inside ``_within`` so a hang fails, not stalls.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.defs.ingestion.raw_candles import ASSET
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.bybit import BybitSource, MonthDeadlineError, RetryPolicy
from resnet_pipeline.market.ingest import ingest_month
from resnet_pipeline.market.source import SourceError, SourceUnavailableError
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import BybitCandles
from resnet_pipeline_tests import _ingestion_helpers as helpers
from resnet_pipeline_tests._ingestion_helpers import FAST_RETRY, bybit_on, utc
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import pipeline_resources
from resnet_pipeline_tests.fake_bybit import FakeBybit

raw_candles = asset("raw_candles")

server = helpers.server  # the module's fake exchange

MALFORMED = ("html", "truncated", "empty_body", "missing_list", "no_retcode")
JAN = date(2024, 1, 1)
T = TypeVar("T")


@pytest.fixture
def fake(server: FakeBybit) -> Iterator[FakeBybit]:
    """The module's server, fresh: default clock, no faults, no credentials, zero counters."""
    server.now = utc("2024-02-10 12:00:30")
    server.faults.clear()
    server.persistent_fault = None
    server.kline_unknown.clear()
    server.credentials = None
    server.trickle_seconds = 0.2
    server.reset_counts()
    yield server
    server.persistent_fault = None  # ends a trickle that a hung client still reads
    server.credentials = None


def _within(seconds: float, fn: Callable[[], T]) -> T:
    """``fn()``'s result or exception; a test failure if it is still running after ``seconds``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still running after {seconds} s: the client hangs on the server")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _truth(start: str, end: str) -> pd.DataFrame:
    return SyntheticSource(seed=0).fetch("BTCUSDT", utc(start), utc(end))


# -- 1. a reply that is not a well-formed Bybit answer is never "no candles" ------------------


@pytest.mark.parametrize("fault", MALFORMED)
def test_one_malformed_page_is_retried_and_the_day_lands_complete(
    fake: FakeBybit, fault: str
) -> None:
    fake.inject(fault)
    source = bybit_on(fake)
    candles = source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-06"))
    pd.testing.assert_frame_equal(candles, _truth("2024-01-05", "2024-01-06"))
    assert source.retries == 1 and fake.kline_requests == 2 + 1


@pytest.mark.parametrize("fault", MALFORMED)
def test_a_persistently_malformed_reply_fails_after_bounded_tries(
    fake: FakeBybit, fault: str
) -> None:
    fake.persistent_fault = fault
    with pytest.raises(SourceUnavailableError, match=r"BTCUSDT.*after 4 tries.*MalformedReply"):
        ingest_month(bybit_on(fake), "BTCUSDT", JAN, now=fake.now)
    assert fake.kline_requests == 4


def test_an_empty_page_the_exchange_sends_is_accepted_without_retry() -> None:
    source = SyntheticSource(0, listings={"NEWUSDT": utc("2024-01-20")})
    with FakeBybit(symbols=["NEWUSDT"], source=source) as fake:
        bybit = bybit_on(fake)
        assert bybit.fetch("NEWUSDT", utc("2024-01-05"), utc("2024-01-06")).empty
        assert bybit.retries == 0 and fake.kline_requests == 2


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
_bad_row = st.one_of(
    st.lists(st.text(max_size=5), max_size=5),  # too short
    st.text(max_size=10),
    st.lists(st.sampled_from(["x", "", "1e400", "12.5.1"]), min_size=6, max_size=7),
)
_bodies = st.one_of(
    st.binary(max_size=64),  # not JSON at all (or JSON of the wrong shape by chance)
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(_bad_row, min_size=1, max_size=3).map(
        lambda rows: json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}}).encode()
    ),
)


@pytest.fixture(scope="module")
def one_try(server: FakeBybit) -> BybitSource:
    """One source for every example (building ccxt's bybit costs more than a request)."""
    return bybit_on(server, retry=RetryPolicy(max_tries=1))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_any_reply_but_a_well_formed_page_fails_instead_of_returning_candles(
    fake: FakeBybit, one_try: BybitSource, body: bytes
) -> None:
    """Whatever the body, the source either raises or the body was a well-formed page."""
    fake.raw_body = body
    fake.persistent_fault = "raw"
    try:
        one_try.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-05 01:00"))
    except SourceError:
        return
    reply = json.loads(body)
    assert str(reply["retCode"]) == "0" and isinstance(reply["result"]["list"], list)


def _resources(root: Path, fake: FakeBybit, **source: object) -> dict[str, object]:
    fast = BybitCandles(
        base_url=fake.url,
        rate_limit_ms=1,
        max_tries=2,
        backoff_seconds=0.001,
        max_backoff_seconds=0.001,
        **source,
    )
    return pipeline_resources(root, fast)


def _materialize(
    resources: dict[str, object], as_of: str | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_candles],
        partition_key="2024-01-01|BTCUSDT",
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {ASSET: {"config": {"as_of": as_of}}}} if as_of else None,
        raise_on_error=False,
    )


def test_every_fault_fails_the_asset_and_leaves_the_stored_bytes_identical(
    tmp_path: Path, fake: FakeBybit
) -> None:
    """The real raw_candles asset: half a month stored, then each fault on the rest of it."""
    resources = _resources(tmp_path, fake, request_deadline_seconds=0.4, month_deadline_seconds=5.0)
    assert _materialize(resources, as_of="2024-01-15T00:00:00Z").success
    path = Path(Layout.at(tmp_path).partition(ASSET, "BTCUSDT", JAN))
    before = path.read_bytes()
    for fault in (*MALFORMED, "trickle"):
        fake.persistent_fault = fault
        failed = _within(30, lambda: _materialize(resources))
        assert not failed.success, fault
        description = failed.failure_data_for_node(ASSET).user_failure_data.description
        assert "BTCUSDT" in description and "after 2 tries" in description, description
        assert path.read_bytes() == before, f"{fault} changed the stored partition"
    fake.persistent_fault = None
    # and the month completes once the server heals (the tight deadlines above are for faults;
    # a healthy fetch of half a month on a loaded machine may need more than 5 s)
    assert _materialize(_resources(tmp_path, fake)).success
    assert len(pd.read_parquet(path)) == 44_640


# -- 2. a trickling server: a total deadline per request, a bound per month --------------------


def _trickle_source(fake: FakeBybit, tries: int, request_s: float, month_s: float) -> BybitSource:
    return BybitSource(
        base_url=fake.url,
        retry=RetryPolicy(max_tries=tries, base_delay=0.001, max_delay=0.001),
        rate_limit_ms=1,
        timeout_ms=5_000,  # per read: far longer than the gap between trickled bytes
        clock=lambda: fake.now,
        request_deadline_s=request_s,
        month_deadline_s=month_s,
    )


def test_a_trickled_request_is_cut_at_its_deadline_and_retried(fake: FakeBybit) -> None:
    fake.inject("trickle")
    source = _trickle_source(fake, tries=3, request_s=0.5, month_s=30)
    started = time.monotonic()
    candles = _within(10, lambda: source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-06")))
    pd.testing.assert_frame_equal(candles, _truth("2024-01-05", "2024-01-06"))
    assert source.retries == 1 and time.monotonic() - started < 5


def test_a_trickling_server_fails_each_request_at_its_deadline(fake: FakeBybit) -> None:
    fake.persistent_fault = "trickle"
    source = _trickle_source(fake, tries=2, request_s=0.3, month_s=30)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="after 2 tries") as failure:
        _within(10, lambda: source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-06")))
    assert "request_deadline_seconds" in str(failure.value)
    assert 0.6 <= time.monotonic() - started < 3
    assert fake.kline_requests == 2


def test_the_deadline_also_cuts_a_connection_opened_after_it(fake: FakeBybit) -> None:
    """ccxt's rate limiter sleeps 5 x 100 ms before each kline request: the 0.3 s deadline
    passes before the connection even exists, and must still end the trickle."""
    fake.persistent_fault = "trickle"
    source = BybitSource(
        base_url=fake.url,
        retry=RetryPolicy(max_tries=2, base_delay=0.001, max_delay=0.001),
        rate_limit_ms=100,
        timeout_ms=5_000,
        clock=lambda: fake.now,
        request_deadline_s=0.3,
    )
    with pytest.raises(SourceUnavailableError, match="after 2 tries"):
        _within(10, lambda: source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-06")))
    # Both tries were made and each was cut. Whether a cut try's bytes reached the server
    # first is a race between the watchdog's abort and the socket's connect, so the server
    # counts at most the two.
    assert source.retries == 1  # the first try cut, the second made and cut
    assert 1 <= fake.kline_requests <= 2


def test_a_trickling_month_stops_at_its_bound_naming_symbol_range_elapsed_setting(
    fake: FakeBybit,
) -> None:
    fake.persistent_fault = "trickle"
    source = _trickle_source(fake, tries=100, request_s=0.4, month_s=1.0)
    started = time.monotonic()
    with pytest.raises(MonthDeadlineError) as failure:
        _within(10, lambda: ingest_month(source, "BTCUSDT", JAN, now=fake.now))
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "klines BTCUSDT 2024-01-01 00:00..2024-02-01 00:00" in message
    assert re.search(r"gave up after 1\.\d s", message), message
    assert "candle_source.month_deadline_seconds" in message
    assert elapsed < 3 and fake.kline_requests == 3  # 0.4 + 0.4 + the 0.2 s left


def test_deadlines_must_be_positive() -> None:
    with pytest.raises(ValueError, match="candle_source.request_deadline_seconds=0"):
        BybitSource(request_deadline_s=0)
    with pytest.raises(ValueError, match="candle_source.month_deadline_seconds=-1"):
        BybitSource(month_deadline_s=-1)


# -- 3. credentials in BYBIT_BASE_URL are used, never shown ------------------------------------


def test_credentials_in_the_base_url_are_sent_and_never_repeated(
    fake: FakeBybit, caplog: pytest.LogCaptureFixture
) -> None:
    fake.credentials = ("alice", "s3cr:et")
    host = fake.url.removeprefix("http://")
    url = f"http://alice:s3cr%3Aet@{host}"
    caplog.set_level(logging.DEBUG)
    source = BybitSource(base_url=url, retry=FAST_RETRY, rate_limit_ms=1, clock=lambda: fake.now)
    assert len(source.fetch("BTCUSDT", utc("2024-01-05"), utc("2024-01-05 02:00"))) == 120

    fake.persistent_fault = "http500"
    with pytest.raises(SourceUnavailableError) as failure:
        source.fetch("BTCUSDT", utc("2024-01-06"), utc("2024-01-07"))
    shown = "".join(traceback.format_exception(failure.value))
    assert f"***@{host}" in str(failure.value)

    wrong = BybitSource(base_url=f"http://alice:s3cr3tz@{host}", retry=FAST_RETRY, rate_limit_ms=1)
    with pytest.raises(SourceError) as refused:
        wrong.fetch("BTCUSDT", utc("2024-01-06"), utc("2024-01-07"))
    shown += "".join(traceback.format_exception(refused.value))
    assert f"***@{host}" in str(refused.value)
    for secret in ("s3cr", "alice"):
        assert secret not in shown and secret not in caplog.text

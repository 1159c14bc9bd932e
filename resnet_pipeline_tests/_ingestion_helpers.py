"""Shared pieces of the ingestion tests: a fast-retrying Bybit source on the fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from resnet_pipeline.market.bybit import BybitSource, RetryPolicy
from resnet_pipeline_tests.fake_bybit import FakeBybit

FAST_RETRY = RetryPolicy(max_tries=4, base_delay=0.001, max_delay=0.005)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def bybit_on(fake: FakeBybit, market: str = "spot", retry: RetryPolicy = FAST_RETRY) -> BybitSource:
    """Real ccxt over HTTP to the fake server, with its clock, tiny rate limit and backoff."""
    return BybitSource(
        market=market, base_url=fake.url, retry=retry, rate_limit_ms=1, clock=lambda: fake.now
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBybit]:
    with FakeBybit() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBybit) -> FakeBybit:
    """The module's server with fresh state: default clock, no faults, zero counters."""
    server.now = utc("2024-02-10 12:00:30")
    server.faults.clear()
    server.persistent_fault = None
    server.kline_unknown.clear()
    server.reset_counts()
    return server

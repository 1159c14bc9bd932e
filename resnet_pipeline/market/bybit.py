"""Bybit v5 1-minute klines through ccxt, paginated by start time, retried with backoff.

Facts this module is built on (DESIGN.md): Bybit answers newest first, ``end`` is
inclusive, and when a range holds more than ``limit`` candles it returns the newest
``limit`` of them. A page therefore asks for [start, start + 999 min] with limit 1000: never
more candles than the limit, so nothing is silently dropped. ccxt's own ``paginate=True``
is not used (it caps the number of pages and repeats pages).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import ccxt
import pandas as pd

from resnet_pipeline.market.schema import MINUTE, empty_candles, from_records, to_utc
from resnet_pipeline.market.source import SourceError, SourceUnavailableError, UnknownSymbolError

PAGE_CANDLES = 1000
MARKETS = ("spot", "linear")
_TRANSIENT_RET_CODES = ("10006", "10016", "10002")  # rate limit, server error, clock skew


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: delay = min(max_delay, base_delay * factor ** attempt)."""

    max_tries: int = 6
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * self.factor**attempt)


def _is_transient(error: Exception) -> bool:
    """Network errors, timeouts, HTTP 5xx/403 throttling (ccxt maps them to NetworkError)
    and Bybit's retry-later codes; everything else is permanent."""
    if isinstance(error, ccxt.NetworkError):
        return True
    return isinstance(error, ccxt.ExchangeError) and any(
        f'"retCode":{code}' in str(error).replace(" ", "") for code in _TRANSIENT_RET_CODES
    )


def _is_unknown_symbol(error: Exception) -> bool:
    text = str(error).replace(" ", "")
    return isinstance(error, ccxt.BadSymbol) or '"retCode":10001' in text


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


class BybitSource:
    """Closed 1-minute candles of a Bybit spot (default) or linear market.

    ``symbol`` is the exchange id (``BTCUSDT``); ``market`` chooses spot or the linear
    perpetual of that id. ``base_url`` replaces Bybit's API origin (a local test server).
    ``clock`` says what time it is, so the forming candle (open time + 1 min > now) is never
    returned even when the exchange sends it. ``sleep`` and ``retry`` make backoff testable.
    """

    name = "bybit"
    page_minutes: int | None = PAGE_CANDLES

    def __init__(
        self,
        market: str = "spot",
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        rate_limit_ms: float | None = None,
        timeout_ms: int = 10_000,
        clock: Callable[[], pd.Timestamp] = _now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if market not in MARKETS:
            raise ValueError(f"bybit market {market!r} is not one of {', '.join(MARKETS)}")
        self.market = market
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        self.retries = 0
        config: dict = {
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": {"fetchMarkets": {"types": [market]}, "defaultType": market},
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        self.exchange = ccxt.bybit(config)
        if base_url:
            origin = base_url.rstrip("/")
            self.exchange.urls["api"] = {key: origin for key in self.exchange.urls["api"]}
        self._unified: dict[str, str] = {}

    @property
    def rate_limit_ms(self) -> float:
        return float(self.exchange.rateLimit)

    def _call(self, what: str, fn: Callable[[], object]) -> object:
        """One logical request with bounded retries on transient failures."""
        for attempt in range(self.retry.max_tries):
            self.requests += 1
            try:
                return fn()
            except ccxt.BaseError as error:
                if not _is_transient(error):
                    raise
                if attempt + 1 == self.retry.max_tries:
                    raise SourceUnavailableError(
                        f"bybit {what}: still failing after {self.retry.max_tries} tries "
                        f"({type(error).__name__}: {str(error)[:300]}); the stored data was left "
                        "unchanged: retry later, or check BYBIT_BASE_URL / the network"
                    ) from error
                self.retries += 1
                self.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    def _market_symbol(self, symbol: str) -> str:
        """The ccxt unified symbol of the exchange id in the chosen market (loaded once)."""
        if symbol in self._unified:
            return self._unified[symbol]
        try:
            self._call("load markets", self.exchange.load_markets)
        except ccxt.BaseError as error:
            raise SourceError(
                f"bybit: loading the {self.market} markets failed: {error}"
            ) from error
        for market in self.exchange.markets.values():
            if market["id"] == symbol and market["type"] == (
                "spot" if self.market == "spot" else "swap"
            ):
                if self.market == "spot" or market.get("linear"):
                    self._unified[symbol] = market["symbol"]
                    return market["symbol"]
        raise UnknownSymbolError(
            f"bybit has no {self.market} market {symbol!r}: check RESNET_SYMBOLS (exchange ids "
            "such as BTCUSDT) or the market (spot/linear)"
        )

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = to_utc(start).ceil("min"), to_utc(end)
        now = to_utc(self.clock())
        end = min(end, now.floor("min"))  # the candle opening at floor(now) is still forming
        if end <= start:
            return empty_candles()
        unified = self._market_symbol(symbol)
        rows: list[list[float]] = []
        cursor = start
        while cursor < end:
            page_last = min(cursor + (PAGE_CANDLES - 1) * MINUTE, end - MINUTE)  # inclusive
            since_ms, until_ms = cursor.value // 1_000_000, page_last.value // 1_000_000
            what = f"klines {symbol} {cursor:%Y-%m-%d %H:%M}..{page_last:%Y-%m-%d %H:%M}"
            try:
                page = self._call(
                    what,
                    lambda s=since_ms, u=until_ms: self.exchange.fetch_ohlcv(
                        unified, "1m", since=s, limit=PAGE_CANDLES, params={"until": u}
                    ),
                )
            except ccxt.BaseError as error:
                if _is_unknown_symbol(error):
                    raise UnknownSymbolError(
                        f"bybit rejected symbol {symbol!r} ({self.market}): {str(error)[:200]}; "
                        "check RESNET_SYMBOLS"
                    ) from error
                raise SourceError(f"bybit {what} failed permanently: {error}") from error
            rows.extend(r for r in page if since_ms <= r[0] <= until_ms)
            cursor = page_last + MINUTE
        frame = from_records(rows) if rows else empty_candles()
        closed = frame["timestamp"] + MINUTE <= now
        frame = frame.loc[closed]
        return frame.drop_duplicates("timestamp").sort_values("timestamp").reset_index(drop=True)

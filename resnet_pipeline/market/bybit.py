"""Bybit v5 1-minute klines through ccxt, paginated by start time, retried with backoff.

Facts this module is built on (docs/DESIGN.md): Bybit answers newest first, ``end`` is
inclusive, and when a range holds more than ``limit`` candles it returns the newest
``limit`` of them. A page therefore asks for [start, start + 999 min] with limit 1000: never
more candles than the limit, so nothing is silently dropped. ccxt's own ``paginate=True``
is not used (it caps the number of pages and repeats pages).

Faults: a reply that is not a well-formed Bybit envelope is a transient error,
never "no candles"; every request has a total deadline and each symbol-month a time bound,
so a trickling server cannot hold a run forever; credentials in ``base_url`` travel as HTTP
basic auth, never inside a URL, so no ccxt message or log can repeat them.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import ccxt
import pandas as pd
from requests.adapters import HTTPAdapter

from resnet_pipeline.market.minute_ranges import MINUTE, to_utc
from resnet_pipeline.market.schema import empty_candles, from_records
from resnet_pipeline.market.source import (
    MARKETS,
    SourceError,
    SourceUnavailableError,
    UnknownSymbolError,
)
from resnet_pipeline.urls import redact_url

PAGE_CANDLES = 1000
_TRANSIENT_RET_CODES = ("10006", "10016", "10002")  # rate limit, server error, clock skew
REQUEST_DEADLINE_SETTING = "candle_source.request_deadline_seconds"
MONTH_DEADLINE_SETTING = "candle_source.month_deadline_seconds"


class MalformedReplyError(ccxt.BadResponse):
    """A 2xx reply that is not a well-formed Bybit answer (an HTML page from a proxy, a
    truncated or empty body, JSON without ``retCode`` or ``result.list``). Transient."""


class RequestDeadlineError(ccxt.RequestTimeout):
    """One HTTP request ran past its total deadline (e.g. a server trickling bytes)."""


class MonthDeadlineError(SourceUnavailableError):
    """Fetching one symbol-month ran past its time bound, retries and backoff included."""


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
    """Network errors, timeouts, HTTP 5xx/403 throttling (ccxt maps them to NetworkError),
    malformed replies and Bybit's retry-later codes; everything else is permanent."""
    if isinstance(error, ccxt.NetworkError | ccxt.BadResponse):
        return True
    return isinstance(error, ccxt.ExchangeError) and any(
        f'"retCode":{code}' in str(error).replace(" ", "") for code in _TRANSIENT_RET_CODES
    )


def _is_unknown_symbol(error: Exception) -> bool:
    text = str(error).replace(" ", "")
    return isinstance(error, ccxt.BadSymbol) or '"retCode":10001' in text


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


class _StrictBybit(ccxt.bybit):
    """ccxt's bybit, except that a 2xx reply without Bybit's envelope raises
    ``MalformedReplyError``: stock ccxt passes it on as ``None``/text, which ``fetch_ohlcv``
    turns into ``[]``, i.e. "no candles"."""

    def handle_errors(self, code: int, reason: str, url: str, method: str, *rest: Any) -> Any:
        body, response = rest[1], rest[2]  # rest: headers, body, response, request...
        if 200 <= (code or 0) < 300 and (
            not isinstance(response, dict)
            or self.safe_string_2(response, "retCode", "ret_code") is None
        ):
            raise MalformedReplyError(
                f"{self.id} {method} {urlsplit(url).path}: HTTP {code} reply is not Bybit JSON "
                f"({len(body or '')} bytes: {(body or '')[:80]!r})"
            )
        return super().handle_errors(code, reason, url, method, *rest)


class _AbortableAdapter(HTTPAdapter):
    """requests' adapter that remembers its connections, so ``abort`` can shut their sockets
    from another thread: the only way to end a read a trickling server keeps alive (the
    socket timeout restarts with every byte)."""

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._track(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        self._track(manager)
        return manager

    def _track(self, manager: Any) -> None:
        if getattr(manager, "_tracked_by", None) is self:
            return
        seen = self._connections

        def tracking(pool_class: type) -> type:
            class TrackingPool(pool_class):  # type: ignore[misc, valid-type]
                def _get_conn(self, timeout: float | None = None) -> Any:
                    conn = super()._get_conn(timeout)
                    seen.add(conn)
                    return conn

            return TrackingPool

        manager.pool_classes_by_scheme = {
            scheme: tracking(cls) for scheme, cls in manager.pool_classes_by_scheme.items()
        }
        manager._tracked_by = self

    def abort(self) -> None:
        """Shut every socket of this adapter: a blocked read returns at once with an error."""
        for conn in list(self._connections):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _parse_rows(rows: list[Any]) -> list[list[float]]:
    """Bybit's ``[start ms, open, high, low, close, volume, turnover]`` strings as ccxt-style
    ``[ms, o, h, l, c, v]``; any row not of that shape makes the whole reply malformed."""
    parsed = []
    for row in rows:
        try:
            if not isinstance(row, list) or len(row) < 6:
                raise ValueError("not a list of at least 6 fields")
            parsed.append([int(row[0]), *(float(v) for v in row[1:6])])
        except (TypeError, ValueError, OverflowError) as error:
            raise MalformedReplyError(
                f"bybit kline reply has a malformed row ({error}): {str(row)[:120]}"
            ) from error
    return parsed


def _split_credentials(base_url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pw@host`` -> (``http://host``, (user, pw)), as requests itself would."""
    parts = urlsplit(base_url.strip().rstrip("/"))
    if "@" not in parts.netloc:
        return urlunsplit(parts), None
    host = parts.netloc.rsplit("@", 1)[1]
    auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=host)), auth


class _MonthBudget:
    """Time left for one symbol-month, counting what earlier fetches of it already spent."""

    def __init__(self, label: str, seconds: float, spent: float, shown_url: str) -> None:
        self.label, self.seconds, self.shown_url = label, seconds, shown_url
        self.started = time.monotonic() - spent

    def left(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def exceeded(self, last: Exception | None) -> MonthDeadlineError:
        cause = f"; last error: {type(last).__name__}: {str(last)[:200]}" if last else ""
        return MonthDeadlineError(
            f"bybit {self.label}: gave up after {self.elapsed():.1f} s, past the bound of "
            f"{self.seconds:g} s for one symbol-month ({MONTH_DEADLINE_SETTING}){cause}. The "
            f"stored data was left unchanged: retry later, raise {MONTH_DEADLINE_SETTING}, or "
            f"check BYBIT_BASE_URL ({self.shown_url}) / the network"
        )


class BybitSource:
    """Closed 1-minute candles of a Bybit spot (default) or linear market.

    ``symbol`` is the exchange id (``BTCUSDT``); ``market`` chooses spot or the linear
    perpetual of that id. ``base_url`` replaces Bybit's API origin (a local test server).
    ``clock`` says what time it is, so the forming candle (open time + 1 min > now) is never
    returned even when the exchange sends it. ``sleep`` and ``retry`` make backoff testable.
    ``timeout_ms`` bounds each socket read; ``request_deadline_s`` a whole request (all of its
    bytes); ``month_deadline_s`` all the requests, retries and backoff of one symbol-month.
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
        request_deadline_s: float = 30.0,
        month_deadline_s: float = 300.0,
    ) -> None:
        if market not in MARKETS:
            raise ValueError(f"bybit market {market!r} is not one of {', '.join(MARKETS)}")
        for setting, value in (
            (REQUEST_DEADLINE_SETTING, request_deadline_s),
            (MONTH_DEADLINE_SETTING, month_deadline_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{setting}={value!r}: give a number of seconds above 0")
        self.market = market
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.sleep = sleep
        self.request_deadline_s = request_deadline_s
        self.month_deadline_s = month_deadline_s
        self.requests = 0
        self.retries = 0
        config: dict = {
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": {"fetchMarkets": {"types": [market]}, "defaultType": market},
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        self.exchange = _StrictBybit(config)
        self._adapter = _AbortableAdapter()
        for prefix in ("http://", "https://"):
            self.exchange.session.mount(prefix, self._adapter)
        self.shown_url = redact_url(base_url) or "unset: api.bybit.com"
        if base_url:
            origin, auth = _split_credentials(base_url)
            self.exchange.urls["api"] = {key: origin for key in self.exchange.urls["api"]}
            self.exchange.session.auth = auth
        self._unified: dict[str, str] = {}
        self._spent: dict[tuple[str, str], float] = {}  # seconds per (symbol, month)

    @property
    def rate_limit_ms(self) -> float:
        return float(self.exchange.rateLimit)

    def _within_deadline(self, fn: Callable[[], object], seconds: float) -> object:
        """``fn()``, its sockets shut when it runs past ``seconds`` in total.

        After the deadline the watchdog keeps shutting sockets until ``fn`` ends, so a
        connection opened late (the deadline fell in ccxt's rate-limit sleep) is cut too.
        """
        done, expired = threading.Event(), threading.Event()

        def watchdog() -> None:
            if done.wait(seconds):
                return
            expired.set()
            while True:
                self._adapter.abort()
                if done.wait(0.05):
                    return

        threading.Thread(target=watchdog, name="bybit-request-deadline", daemon=True).start()
        try:
            return fn()
        except Exception as error:
            if expired.is_set():
                raise RequestDeadlineError(
                    f"bybit: no complete reply within {seconds:.3g} s "
                    f"({REQUEST_DEADLINE_SETTING}={self.request_deadline_s:g})"
                ) from error
            raise
        finally:
            done.set()

    def _call(
        self, what: str, fn: Callable[[], object], budget: _MonthBudget | None = None
    ) -> object:
        """One logical request with bounded retries on transient failures."""
        last: Exception | None = None
        for attempt in range(self.retry.max_tries):
            seconds = self.request_deadline_s
            if budget is not None:
                if budget.left() <= 0:
                    raise budget.exceeded(last)
                seconds = min(seconds, budget.left())
            self.requests += 1
            try:
                return self._within_deadline(fn, seconds)
            except ccxt.BaseError as error:
                if not _is_transient(error):
                    raise
                last = error
                if budget is not None and budget.left() <= 0:
                    raise budget.exceeded(last) from error
                if attempt + 1 == self.retry.max_tries:
                    raise SourceUnavailableError(
                        f"bybit {what}: still failing after {self.retry.max_tries} tries "
                        f"({type(error).__name__}: {str(error)[:300]}); the stored data was left "
                        f"unchanged: retry later, or check BYBIT_BASE_URL ({self.shown_url}) / "
                        "the network"
                    ) from error
                self.retries += 1
                delay = self.retry.delay(attempt)
                self.sleep(delay if budget is None else max(0.0, min(delay, budget.left())))
        raise AssertionError("unreachable")

    def _market_symbol(self, symbol: str, budget: _MonthBudget | None = None) -> str:
        """The ccxt unified symbol of the exchange id in the chosen market (loaded once)."""
        if symbol in self._unified:
            return self._unified[symbol]
        try:
            self._call("load markets", self.exchange.load_markets, budget)
        except ccxt.BaseError as error:
            raise SourceError(
                f"bybit: loading the {self.market} markets from {self.shown_url} failed: {error}"
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

    def _kline_page(self, symbol: str, since_ms: int, until_ms: int) -> list[list[float]]:
        """One page from the kline endpoint, parsed here rather than by ``fetch_ohlcv``.

        ccxt's ``fetch_ohlcv`` reads ``result.list`` with a default of ``[]``, so a reply
        without it becomes "no candles". The implicit endpoint gives the parsed envelope
        (``_StrictBybit`` already refused anything that is not one, and ccxt raised on a
        non-zero retCode); an empty page is accepted only as a list the exchange sent.
        Reading ``last_json_response`` instead would depend on state ccxt shares between
        calls; the endpoint's return value belongs to this request alone.
        """
        reply = self.exchange.publicGetV5MarketKline(
            {
                "category": self.market,
                "symbol": symbol,
                "interval": "1",
                "start": since_ms,
                "end": until_ms,
                "limit": PAGE_CANDLES,
            }
        )
        result = reply.get("result") if isinstance(reply, dict) else None
        rows = result.get("list") if isinstance(result, dict) else None
        if not isinstance(rows, list):
            raise MalformedReplyError(f"bybit kline reply has no result.list: {str(reply)[:120]!r}")
        return _parse_rows(rows)

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = to_utc(start).ceil("min"), to_utc(end)
        now = to_utc(self.clock())
        end = min(end, now.floor("min"))  # the candle opening at floor(now) is still forming
        if end <= start:
            return empty_candles()
        key = (symbol, f"{start:%Y-%m}")
        budget = _MonthBudget(
            f"klines {symbol} {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}",
            self.month_deadline_s,
            self._spent.get(key, 0.0),
            self.shown_url,
        )
        try:
            return self._fetch_pages(symbol, start, end, now, budget)
        finally:
            self._spent[key] = budget.elapsed()

    def _fetch_pages(
        self,
        symbol: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        now: pd.Timestamp,
        budget: _MonthBudget,
    ) -> pd.DataFrame:
        self._market_symbol(symbol, budget)  # an unknown symbol fails before any kline request
        rows: list[list[float]] = []
        cursor = start
        while cursor < end:
            page_last = min(cursor + (PAGE_CANDLES - 1) * MINUTE, end - MINUTE)  # inclusive
            since_ms, until_ms = cursor.value // 1_000_000, page_last.value // 1_000_000
            what = f"klines {symbol} {cursor:%Y-%m-%d %H:%M}..{page_last:%Y-%m-%d %H:%M}"
            try:
                page = self._call(
                    what,
                    lambda s=since_ms, u=until_ms: self._kline_page(symbol, s, u),
                    budget,
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

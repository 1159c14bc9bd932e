"""A local Bybit-v5-compatible HTTP server for offline tests and benchmarks.

It answers what ccxt's ``load_markets`` and ``fetch_ohlcv`` call on Bybit, in Bybit's shapes:
``{"retCode", "retMsg", "result": {...}, "retExtInfo": {}, "time"}``, string fields, klines
newest first. Kline semantics follow the exchange: ``start``/``end`` in ms, ``end``
inclusive (default: now), ``limit`` default 200 and max 1000, and when the range holds more
candles than ``limit`` the newest ``limit`` are returned. The candle opening at floor(now)
is returned too, as Bybit does, with partial values: it is still forming.

Candles come from ``SyntheticSource``; ``now`` is controllable; faults can be queued
(``rate_limit`` -> retCode 10006, ``http500``, ``http403`` throttle, ``server_error`` ->
retCode 10016, ``timeout`` -> answers only after ``slow_seconds``) or made persistent; every
request is counted by path. Replies a proxy or a broken exchange may send with HTTP 200:
``html`` (an HTML page), ``truncated`` (half of the real JSON), ``empty_body``,
``missing_list`` (retCode 0 but no ``result.list``), ``no_retcode`` (JSON without Bybit's
envelope), ``raw`` (the bytes in ``raw_body``); ``trickle`` sends the real reply one byte
every ``trickle_seconds``. With ``credentials`` set, requests without that HTTP basic auth
get 401.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pandas as pd

from resnet_pipeline.market.synthetic import SyntheticSource

FAULTS = (
    "rate_limit",
    "http500",
    "http403",
    "server_error",
    "timeout",
    "html",
    "truncated",
    "empty_body",
    "missing_list",
    "no_retcode",
    "trickle",
    "raw",
)
_MINUTE_MS = 60_000
PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class Trickle:
    """A JSON reply the handler sends one byte at a time (a server that never stalls long
    enough for a per-read timeout, yet never finishes)."""

    def __init__(self, body: Any) -> None:
        self.body = body


def _spot_instrument(symbol: str) -> dict[str, Any]:
    base, quote = symbol[:-4], symbol[-4:]
    return {
        "symbol": symbol,
        "baseCoin": base,
        "quoteCoin": quote,
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "both",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": "0.000001",
            "quotePrecision": "0.00000001",
            "minOrderQty": "0.000048",
            "maxOrderQty": "71.73956243",
            "minOrderAmt": "1",
            "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": "0.01"},
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
    }


def _linear_instrument(symbol: str) -> dict[str, Any]:
    base, quote = symbol[:-4], symbol[-4:]
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": "0.001",
            "qtyStep": "0.001",
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": quote,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
    }


class FakeBybit:
    """Start with ``with FakeBybit(now=...) as fake:`` and point ccxt at ``fake.url``."""

    def __init__(
        self,
        now: pd.Timestamp | str = "2024-02-10 12:00:30",
        symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"),
        source: SyntheticSource | None = None,
        kline_unknown: Iterable[str] = (),
    ) -> None:
        self.now = (
            pd.Timestamp(now, tz="UTC") if pd.Timestamp(now).tzinfo is None else pd.Timestamp(now)
        )
        self.symbols = tuple(symbols)
        self.source = source or SyntheticSource(seed=0)
        self.kline_unknown = set(kline_unknown)  # listed, but kline answers retCode 10001
        self.faults: deque[str] = deque()
        self.persistent_fault: str | None = None
        self.slow_seconds = 0.5
        self.trickle_seconds = 0.2
        self.raw_body = b""  # the reply of the "raw" fault, sent as application/json
        self.credentials: tuple[str, str] | None = None  # required HTTP basic auth, if any
        self._stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        self.kline_params: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._days: dict[tuple[str, int], pd.DataFrame] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, *faults: str) -> None:
        """Queue faults answered, one each, by the next kline requests."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}: use one of {FAULTS}")
            self.faults.append(fault)

    @property
    def kline_requests(self) -> int:
        return self.requests["/v5/market/kline"]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.kline_params.clear()

    def start(self) -> FakeBybit:
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends trickling replies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBybit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- responses -----------------------------------------------------------------------
    def _envelope(self, result: Any, code: int = 0, msg: str = "OK") -> dict[str, Any]:
        return {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": int(self.now.value // 1_000_000),
        }

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """(HTTP status, body) for one request: a JSON value, HTML text, raw JSON-typed bytes or
        a ``Trickle``."""
        with self._lock:
            self.requests[path] += 1
            if path == "/v5/market/kline":
                self.kline_params.append(dict(query))
                fault = self.persistent_fault or (self.faults.popleft() if self.faults else None)
            else:
                fault = None
        if fault == "timeout":
            time.sleep(self.slow_seconds)
            return 200, self._envelope({}, 10016, "answered too late")
        if fault == "http500":
            return 500, "<html><body>500 Internal Server Error</body></html>"
        if fault == "http403":
            return 403, "<html><body>403 Forbidden: access too frequent</body></html>"
        if fault == "rate_limit":
            return 200, self._envelope({}, 10006, "Too many visits. Exceeded the API Rate Limit.")
        if fault == "server_error":
            return 200, self._envelope({}, 10016, "System error. Please try again later.")
        if fault == "html":
            return 200, PROXY_PAGE
        if fault == "empty_body":
            return 200, b""
        if fault == "raw":
            return 200, self.raw_body
        if fault == "no_retcode":
            return 200, {"result": {"list": []}}
        if fault in ("truncated", "missing_list", "trickle") and path == "/v5/market/kline":
            body = self._kline(query)
            if fault == "truncated":
                data = json.dumps(body).encode()
                return 200, data[: len(data) // 2]
            if fault == "missing_list":
                return 200, self._envelope({k: v for k, v in body["result"].items() if k != "list"})
            return 200, Trickle(body)
        if path == "/v5/market/time":
            ns = self.now.value
            return 200, self._envelope({"timeSecond": str(ns // 10**9), "timeNano": str(ns)})
        if path == "/v5/market/instruments-info":
            return 200, self._instruments(query.get("category", ""))
        if path == "/v5/market/kline":
            return 200, self._kline(query)
        return 404, {"retCode": 10404, "retMsg": f"unknown path {path}"}

    def _instruments(self, category: str) -> dict[str, Any]:
        makers = {"spot": _spot_instrument, "linear": _linear_instrument}
        items = [makers[category](s) for s in self.symbols] if category in makers else []
        return self._envelope({"category": category, "list": items, "nextPageCursor": ""})

    def _kline(self, q: dict[str, str]) -> dict[str, Any]:
        symbol, category = q.get("symbol", ""), q.get("category", "")
        if (
            symbol not in self.symbols
            or symbol in self.kline_unknown
            or category not in ("spot", "linear")
        ):
            return self._envelope({}, 10001, "Not supported symbols")
        if q.get("interval") != "1":
            return self._envelope({}, 10001, "Invalid period!")
        limit = min(max(int(q.get("limit", 200)), 1), 1000)
        now_ms = self.now.value // 1_000_000
        forming_ms = now_ms - now_ms % _MINUTE_MS
        end_ms = min(int(q.get("end", now_ms)), forming_ms)
        if "start" in q:
            start_ms = int(q["start"])
            start_ms -= start_ms % _MINUTE_MS  # the candle containing start
        else:
            start_ms = end_ms - end_ms % _MINUTE_MS - (limit - 1) * _MINUTE_MS
        rows: list[list[str]] = []
        if start_ms <= end_ms:
            first = max(start_ms, end_ms - end_ms % _MINUTE_MS - (limit - 1) * _MINUTE_MS)
            frame = self._candles(symbol, first, end_ms)
            for ms, o, h, lo, c, v in frame.itertuples(index=False):
                if ms == forming_ms:  # still forming: part of the minute's volume only
                    v, c = v * 0.3, o
                    h, lo = max(h, o), min(lo, o)
                rows.append([str(ms), repr(o), repr(h), repr(lo), repr(c), repr(v), repr(v * c)])
            rows.reverse()  # newest first
        return self._envelope({"symbol": symbol, "category": category, "list": rows})

    def _candles(self, symbol: str, first_ms: int, last_ms: int) -> pd.DataFrame:
        """Candles with open time in [first_ms, last_ms], from day frames cached per symbol."""
        day_ms = 1440 * _MINUTE_MS
        parts = []
        for day in range(first_ms // day_ms, last_ms // day_ms + 1):
            key = (symbol, day)
            if key not in self._days:
                start = pd.Timestamp(day * day_ms, unit="ms", tz="UTC")
                frame = self.source.fetch(symbol, start, start + pd.Timedelta(days=1))
                frame.insert(0, "ms", frame.pop("timestamp").astype("int64") // 1_000_000)
                with self._lock:
                    self._days[key] = frame
            parts.append(self._days[key])
        frame = pd.concat(parts, ignore_index=True)
        return frame[(frame["ms"] >= first_ms) & (frame["ms"] <= last_ms)]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # header and body are separate writes

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                if not self._authorized():
                    status, body = 401, "<html><body>401 Authorization Required</body></html>"
                else:
                    status, body = fake.respond(parsed.path, query)
                if isinstance(body, Trickle):
                    self._trickle(json.dumps(body.body).encode())
                    return
                if isinstance(body, bytes):
                    data = body
                else:
                    data = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(status)
                kind = "text/html" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    self.close_connection = True

            def _authorized(self) -> bool:
                if fake.credentials is None:
                    return True
                token = base64.b64encode(":".join(fake.credentials).encode()).decode()
                return self.headers.get("Authorization") == f"Basic {token}"

            def _trickle(self, data: bytes) -> None:
                """Status line, headers and body, one byte per ``trickle_seconds``, until done,
                the client hangs up or the server stops."""
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n"
                ).encode()
                raw = head + data
                self.close_connection = True
                for i in range(len(raw)):
                    if fake._stopping.wait(fake.trickle_seconds):
                        return
                    try:
                        self.wfile.write(raw[i : i + 1])
                    except OSError:  # the client gave up
                        return

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        return Handler

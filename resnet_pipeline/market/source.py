"""The one interface every candle source implements, and the errors ingestion reacts to."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

# Kinds of market a symbol trades on: spot (BTC/USDT) or the linear perpetual (BTC/USDT:USDT).
MARKETS = ("spot", "linear")


@runtime_checkable
class CandleSource(Protocol):
    """Closed 1-minute candles of ``symbol`` whose open time lies in [start, end).

    ``fetch`` returns a frame in the schema of ``market.schema`` (possibly empty, never
    the still-forming candle). ``requests`` counts the calls made to the backing service
    (HTTP requests for an exchange, including retries), reported in the asset metadata.
    ``page_minutes`` is how many minutes one request covers at most (None: unbounded), so
    ingestion can cover scattered holes with as few requests as possible.
    """

    name: str
    requests: int
    page_minutes: int | None

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame: ...


class SourceError(RuntimeError):
    """A source could not deliver candles."""


class UnknownSymbolError(SourceError, ValueError):
    """Permanent: the source does not know the symbol (Bybit retCode 10001, no such file)."""


class SourceUnavailableError(SourceError):
    """Transient failures persisted through every retry."""

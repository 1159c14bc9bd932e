"""The `candle_source` resource: one abstract resource, one subclass per source of candles.

`definitions.py` picks the subclass from settings (RESNET_SOURCE); tests hand an asset the
subclass they need. Each builds a fresh CandleSource per run, so request counters start at 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import dagster as dg
from pydantic import Field

from resnet_pipeline.market.bybit import BybitSource, RetryPolicy
from resnet_pipeline.market.files import FilesSource
from resnet_pipeline.market.source import MARKETS, CandleSource
from resnet_pipeline.market.synthetic import SyntheticSource


class CandleSourceResource(dg.ConfigurableResource, ABC):
    """Where `raw_candles` reads candles from; ``kind`` names it in metadata and errors."""

    kind: ClassVar[str]

    @abstractmethod
    def build(self) -> CandleSource: ...


class BybitCandles(CandleSourceResource):
    """Bybit v5 public klines through ccxt (retried, rate-limited, with deadlines)."""

    kind: ClassVar[str] = "bybit"
    base_url: str | None = Field(default=None, description="Bybit API origin override")
    market: str = Field(default="spot", description="Bybit market: spot | linear")
    max_tries: int = Field(default=6, description="tries per Bybit request (transient errors)")
    backoff_seconds: float = Field(default=0.5, description="first retry delay, doubled per try")
    max_backoff_seconds: float = Field(default=30.0, description="cap of the retry delay")
    rate_limit_ms: float | None = Field(
        default=None, description="ccxt rateLimit (ms between requests); None: ccxt's default"
    )
    timeout_ms: int = Field(default=10_000, description="HTTP timeout per socket read")
    request_deadline_seconds: float = Field(
        default=30.0, description="total time one Bybit request may take (a trickling server)"
    )
    month_deadline_seconds: float = Field(
        default=300.0, description="bound on fetching one symbol-month, retries included"
    )

    def build(self) -> CandleSource:
        if self.market not in MARKETS:
            raise ValueError(f"candle_source.market={self.market!r}: use one of {MARKETS}")
        if self.max_tries < 1:
            raise ValueError("candle_source.max_tries must be at least 1")
        return BybitSource(
            market=self.market,
            base_url=self.base_url,
            retry=RetryPolicy(
                max_tries=self.max_tries,
                base_delay=self.backoff_seconds,
                max_delay=self.max_backoff_seconds,
            ),
            rate_limit_ms=self.rate_limit_ms,
            timeout_ms=self.timeout_ms,
            request_deadline_s=self.request_deadline_seconds,
            month_deadline_s=self.month_deadline_seconds,
        )


class SyntheticCandles(CandleSourceResource):
    """The seeded synthetic market: fully offline, deterministic per symbol and minute."""

    kind: ClassVar[str] = "synthetic"
    seed: int = Field(default=0, description="seed of the synthetic market")
    planted_symbols: list[str] = Field(
        default_factory=list,
        description="symbols that carry the planted, learnable pattern (market.planted); "
        "the others are the pattern-free market",
    )

    def build(self) -> CandleSource:
        return SyntheticSource(seed=self.seed, planted_symbols=self.planted_symbols)


class FilesCandles(CandleSourceResource):
    """CSV/Parquet exports under a directory (RESNET_FILES_DIR)."""

    kind: ClassVar[str] = "files"
    files_dir: str = Field(description="directory of CSV/Parquet candles")
    files_columns: dict[str, str] = Field(
        default_factory=dict,
        description="files source: {candle column: file column} (RESNET_FILES_COLUMNS)",
    )

    def build(self) -> CandleSource:
        return FilesSource(self.files_dir, columns=self.files_columns)

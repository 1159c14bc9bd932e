"""The `candle_source` resource: which source ingestion reads, configured by settings."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resnet_pipeline.market.bybit import MARKETS, BybitSource, RetryPolicy
from resnet_pipeline.market.files import FilesSource
from resnet_pipeline.market.source import CandleSource
from resnet_pipeline.market.synthetic import SyntheticSource

KINDS = ("bybit", "synthetic", "files")


class CandleSourceResource(dg.ConfigurableResource):
    """Builds a fresh CandleSource per run (request counters start at zero)."""

    kind: str = Field(description="bybit | synthetic | files")
    base_url: str | None = Field(default=None, description="Bybit API origin override")
    files_dir: str | None = Field(default=None, description="directory of CSV/Parquet candles")
    market: str = Field(default="spot", description="Bybit market: spot | linear")
    seed: int = Field(default=0, description="seed of the synthetic market")
    max_tries: int = Field(default=6, description="tries per Bybit request (transient errors)")
    backoff_seconds: float = Field(default=0.5, description="first retry delay, doubled per try")
    max_backoff_seconds: float = Field(default=30.0, description="cap of the retry delay")
    rate_limit_ms: float | None = Field(
        default=None, description="ccxt rateLimit (ms between requests); None: ccxt's default"
    )
    timeout_ms: int = Field(default=10_000, description="HTTP timeout per request")

    def build(self) -> CandleSource:
        if self.kind == "bybit":
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
            )
        if self.kind == "synthetic":
            return SyntheticSource(seed=self.seed)
        if self.kind == "files":
            if not self.files_dir:
                raise ValueError("candle_source kind 'files' needs files_dir (RESNET_FILES_DIR)")
            return FilesSource(self.files_dir)
        raise ValueError(f"candle_source.kind={self.kind!r} is not one of {', '.join(KINDS)}")

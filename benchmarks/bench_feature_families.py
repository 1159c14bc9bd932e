"""The cost of each channel family on one symbol-month (44,640 minutes) after a month of
history, as a fold computing it from stored candles would pay it.

Prints each family's best and median time over ``--repeat`` runs, its channels and ms per
channel, and the load average (other processes on the machine inflate the figures).

    python benchmarks/bench_feature_families.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.features.families import FAMILIES  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = SyntheticSource(0)
    start, month, end = (
        pd.Timestamp(d, tz="UTC") for d in ("2023-12-01", "2024-01-01", "2024-02-01")
    )
    history = source.fetch("BTCUSDT", start, month)
    candles = source.fetch("BTCUSDT", month, end)
    other = source.fetch("ETHUSDT", start, end)
    rng = np.random.default_rng(0)  # order flow as a Binance export would carry it
    candles = candles.assign(
        taker_buy_volume=candles["volume"] * rng.uniform(0, 1, len(candles)),
        trades=rng.poisson(900, len(candles)).astype(np.float64),
    )
    print(f"{len(candles):,} minutes, load average {os.getloadavg()[0]:.2f}")
    print(f"{'family':16} {'best ms':>8} {'median ms':>10} {'channels':>9} {'ms/channel':>11}")
    for family in FAMILIES:
        family.compute(candles, history, other)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            family.compute(candles, history, other)
            times.append(time.perf_counter() - started)
        best, median = 1000 * min(times), 1000 * float(np.median(times))
        n = len(family.channels)
        print(f"{family.name:16} {best:8.0f} {median:10.0f} {n:9d} {best / n:11.1f}")


if __name__ == "__main__":
    main()

"""The `files` source on a symbol-year of daily exchange exports: ingestion vs reading the files.

Writes a synthetic symbol-year (SyntheticSource candles) as 365 daily CSV files in Binance's
export format (no header; open time in epoch ms, open, high, low, close, volume, close time,
quote volume, trades, taker buy base, taker buy quote, ignore) into a temp dir. Then, per
month: `ingest_month` with a fresh FilesSource (as a run in its own process: only the file
index on disk carries over) against plain `pandas.read_csv` of that month's files, the ratio
(target <= 2x) in wall and in CPU time (the latter barely moved by other processes), the
source's own `fetch` apart and the files read; then the whole year (the twelve months) once
more. Each figure is the median of ``--repeats`` runs; `uptime` is printed before and after.

    python benchmarks/bench_files_source.py [--year 2023] [--repeats 5] [--months 12]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.market.files import FilesSource  # noqa: E402
from resnet_pipeline.market.ingest import ingest_month  # noqa: E402
from resnet_pipeline.market.minute_ranges import month_bounds  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402

SYMBOL = "BTCUSDT"
TARGET = 2.0


def binance_rows(candles: pd.DataFrame) -> pd.DataFrame:
    """Candles in the column order of Binance's kline export files."""
    ms = candles["timestamp"].astype("int64").to_numpy() // 1_000_000
    volume = candles["volume"].to_numpy()
    return pd.DataFrame(
        {
            "open_time": ms,
            "open": candles["open"].to_numpy(),
            "high": candles["high"].to_numpy(),
            "low": candles["low"].to_numpy(),
            "close": candles["close"].to_numpy(),
            "volume": volume,
            "close_time": ms + 59_999,
            "quote_volume": volume * candles["close"].to_numpy(),
            "trades": np.maximum((volume * 10).astype("int64"), 1),
            "taker_buy_base": volume / 2,
            "taker_buy_quote": volume * candles["close"].to_numpy() / 2,
            "ignore": 0,
        }
    )


def write_daily_exports(candles: pd.DataFrame, directory: Path, symbol: str = SYMBOL) -> None:
    """One header-less ``SYMBOL-1m-YYYY-MM-DD.csv`` per UTC day, as Binance publishes them."""
    rows = binance_rows(candles)
    days = candles["timestamp"].dt.strftime("%Y-%m-%d").to_numpy()
    for day in pd.unique(days):
        rows[days == day].to_csv(directory / f"{symbol}-1m-{day}.csv", header=False, index=False)


def seconds(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of the process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def measure_month(
    folder: Path, index: Path, month: date, now: pd.Timestamp, repeats: int
) -> tuple[int, int, dict[str, tuple[float, float]]]:
    """Own files, files read and {pandas, fetch, ingest: (wall s, CPU s)}: medians of
    alternating runs, so that a change in the machine's load weighs on each. A fresh source
    per run, as a run in its own process: only the index on disk carries over."""
    lo, hi = month_bounds(month)
    days = pd.date_range(lo, hi, inclusive="left")
    own = [folder / f"{SYMBOL}-1m-{d:%Y-%m-%d}.csv" for d in days]
    runs: dict[str, list[tuple[float, float]]] = {"pandas": [], "fetch": [], "ingest": []}
    read = 0
    for _ in range(repeats):
        runs["pandas"].append(seconds(lambda: [pd.read_csv(f, header=None) for f in own]))
        source = FilesSource(folder, index_path=index)
        runs["fetch"].append(seconds(lambda source=source: source.fetch(SYMBOL, lo, hi)))
        source = FilesSource(folder, index_path=index)
        runs["ingest"].append(
            seconds(lambda source=source: ingest_month(source, SYMBOL, month, now))
        )
        read = source.requests
    medians = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in runs.items()
    }
    return len(own), read, medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2023, help="a 365-day year by default")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--months", type=int, default=12, help="months measured (1..12)")
    args = parser.parse_args()
    print(f"load before: {load()}")
    first = pd.Timestamp(args.year, 1, 1, tz="UTC")
    end = pd.Timestamp(args.year + 1, 1, 1, tz="UTC")
    months = [date(args.year, m, 1) for m in range(1, args.months + 1)]
    now = end + pd.Timedelta(days=1)

    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        folder, index = Path(tmp) / "exports", Path(tmp) / "index.json"
        folder.mkdir()
        took, _ = seconds(
            lambda: write_daily_exports(SyntheticSource(0).fetch(SYMBOL, first, end), folder)
        )
        print(f"wrote {len(list(folder.iterdir()))} daily files in {took:.1f} s")

        print(
            f"{'month':8} {'files':>5} {'read':>5} {'pandas s':>9} {'fetch s':>8} "
            f"{'ingest s':>9} {'ratio':>6} {'CPU ratio':>9}"
        )
        ratios, cpu_ratios = [], []
        for month in months:
            own, read, t = measure_month(folder, index, month, now, args.repeats)
            ratios.append(t["ingest"][0] / t["pandas"][0])
            cpu_ratios.append(t["ingest"][1] / t["pandas"][1])
            print(
                f"{month:%Y-%m}  {own:5} {read:5} {t['pandas'][0]:9.3f} {t['fetch'][0]:8.3f} "
                f"{t['ingest'][0]:9.3f} {ratios[-1]:5.2f}x {cpu_ratios[-1]:8.2f}x"
            )
        for name, values in (("wall", ratios), ("CPU", cpu_ratios)):
            print(
                f"ingest / pandas ({name}): worst {max(values):.2f}x, median "
                f"{statistics.median(values):.2f}x (target <= {TARGET:g}x)"
            )

        def whole_year() -> None:
            for month in months:
                ingest_month(FilesSource(folder, index_path=index), SYMBOL, month, now)

        year = statistics.median(seconds(whole_year)[0] for _ in range(args.repeats))
        print(f"whole year ({len(months)} months, a fresh source each): {year:.2f} s")
    print(f"load after:  {load()}")


if __name__ == "__main__":
    main()

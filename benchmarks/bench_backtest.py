"""Backtest speed on one symbol-year of minutes with every rule on.

Prints, measured in one run (best of ``--repeat``; wall and, in brackets, this process's
CPU time), for each stop mode and two signal densities: bars/s of the engine finding the
trades (``simulate``, target >= 1,000,000), of the whole backtest (``run_backtest``: trades
plus the equity curve and the trade log), and of the tests' bar-by-bar reference loop of the
same rules, the engine's speed-up over it, and the number of trades (probabilities are
persistent random draws, so trades are frequent: a hard case). Shorts pay a borrow fee; the
drawdown guard, time exits and reversals are on. The machine's load average is printed
before and after.

    python benchmarks/bench_backtest.py [--small] [--repeat 3]
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

from resnet_pipeline.features.indicators import wilder_atr  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.trading.bars import Bars, make_bars  # noqa: E402
from resnet_pipeline.trading.simulate import run_backtest, simulate  # noqa: E402
from resnet_pipeline.trading.strategy import StrategyConfig  # noqa: E402
from resnet_pipeline_tests._reference_backtest import reference_trades  # noqa: E402


def persistent_probabilities(n: int, scale: float, seed: int = 0) -> np.ndarray:
    """Slowly drifting random logits: signals that last minutes to hours, like a model's."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)
    walk -= pd.DataFrame(walk).rolling(240, min_periods=1).mean().to_numpy()
    logits = np.exp(scale * walk)
    return logits / logits.sum(axis=1, keepdims=True)


def best_time(repeat: int, run, *args) -> tuple[object, float, float]:
    """(value, best wall seconds, best CPU seconds of this process) over ``repeat`` runs: the
    CPU figure is the one to read on a machine shared with other work."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        value = run(*args)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return value, wall, cpu


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="31 days instead of 365")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args()
    print(f"load average (1, 5, 15 min) before: {load()}")
    start = pd.Timestamp("2024-01-01", tz="UTC")
    days = 31 if args.small else 365
    c = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    high, low, close = (c[k].to_numpy() for k in ("high", "low", "close"))
    atr = wilder_atr(high, low, close, 14)
    for density, scale in (("dense", 3.0), ("sparse", 1.5)):
        proba = persistent_probabilities(len(c), scale)
        share = float(((proba[:, 0] > 0.6) | (proba[:, 2] > 0.6)).mean())
        print(f"{density} signals: {share:.1%} of bars above the threshold")
        for stop in ("fixed", "atr", "trailing"):
            cfg = StrategyConfig(stop=stop, borrow_fee_per_day=0.0002)  # every rule on
            bars = make_bars(
                c["timestamp"], c["open"].to_numpy(), high, low, close, atr, proba, cfg
            )
            measure(bars, cfg, args.repeat)
    print(f"load average (1, 5, 15 min) after: {load()}")


def measure(bars: Bars, cfg: StrategyConfig, repeat: int) -> None:
    trades, engine, engine_cpu = best_time(repeat, simulate, bars, cfg)
    _, whole, whole_cpu = best_time(repeat, run_backtest, bars, cfg)
    reference, loop, loop_cpu = best_time(repeat, reference_trades, bars, cfg)
    assert reference == trades, "the engine and the reference loop disagree"
    print(
        f"  stop={cfg.stop:<8} {bars.n:,} bars, {len(trades):,} trades, bars/s wall (cpu): "
        f"engine {bars.n / engine:,.0f} ({bars.n / engine_cpu:,.0f}), target >= 1,000,000; "
        f"with equity and log {bars.n / whole:,.0f} ({bars.n / whole_cpu:,.0f}); reference "
        f"loop {bars.n / loop:,.0f} ({bars.n / loop_cpu:,.0f}); engine "
        f"{loop / engine:.1f}x ({loop_cpu / engine_cpu:.1f}x) the reference"
    )


if __name__ == "__main__":
    main()

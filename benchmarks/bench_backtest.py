"""Backtest speed on one symbol-year of minutes with every rule on.

Prints bars/s of the event-driven engine (target >= 1,000,000) and of the plain bar-by-bar
reference loop of the same rules, measured in the same run, their ratio, and the number of
trades (probabilities are persistent random draws, so trades are frequent: a hard case).

    python benchmarks/bench_backtest.py [--small]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.features.indicators import wilder_atr  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.trading.bar_loop import run_bar_loop  # noqa: E402
from resnet_pipeline.trading.simulate import make_market, run_backtest, simulate  # noqa: E402
from resnet_pipeline.trading.strategy import StrategyConfig  # noqa: E402


def persistent_probabilities(n: int, scale: float, seed: int = 0) -> np.ndarray:
    """Slowly drifting random logits: signals that last minutes to hours, like a model's."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)
    walk -= pd.DataFrame(walk).rolling(240, min_periods=1).mean().to_numpy()
    logits = np.exp(scale * walk)
    return logits / logits.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="31 days instead of 365")
    args = parser.parse_args()
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
            measure(c, high, low, close, atr, proba, stop)


def measure(c, high, low, close, atr, proba, stop: str) -> None:
    cfg = StrategyConfig(stop=stop)  # every other rule is on by default
    m = make_market(c["timestamp"], c["open"].to_numpy(), high, low, close, atr, proba, cfg)
    started = time.perf_counter()
    result = run_backtest(m, cfg)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    reference = run_bar_loop(m, cfg)
    slow = time.perf_counter() - started
    assert reference == simulate(m, cfg), "engines disagree"
    print(
        f"  stop={stop:<8} {len(c):,} bars, {len(result.trades):,} trades: engine "
        f"{len(c) / fast:,.0f} bars/s (target >= 1,000,000), bar loop {len(c) / slow:,.0f} "
        f"bars/s, speed-up {slow / fast:.1f}x"
    )


if __name__ == "__main__":
    main()

"""Constructed bars for the backtest tests: probability rows, cost-free fills, a price path
turned into the engine's ``Bars``, and ramped model predictions over synthetic candles."""

import numpy as np
import pandas as pd

from resnet_pipeline.trading.bars import make_bars

LONG = (0.1, 0.1, 0.8)
SHORT = (0.8, 0.1, 0.1)
HOLD_LONG = (0.2, 0.2, 0.6)  # p_up 0.6: no new signal, but confidence stays above 0.5
FLAT = (1 / 3, 1 / 3, 1 / 3)
NO_COSTS = {"fee_rate": 0.0, "slippage_bps": 0.0}


def bars_from(closes, probs, cfg, highs=None, lows=None, opens=None, atr=1.0, start="2024-01-01"):
    """One-minute bars from ``closes`` (opens default to the previous close), with ``probs``
    per bar (None: no prediction)."""
    closes = np.asarray(closes, float)
    opens = np.asarray(
        opens if opens is not None else np.concatenate(([closes[0]], closes[:-1])), float
    )
    highs = np.asarray(highs if highs is not None else np.maximum(opens, closes), float)
    lows = np.asarray(lows if lows is not None else np.minimum(opens, closes), float)
    times = pd.date_range(start, periods=len(closes), freq="1min", tz="UTC")
    probs = np.array([p if p is not None else (np.nan,) * 3 for p in probs], float)
    return make_bars(times, opens, highs, lows, closes, np.full(len(closes), atr), probs, cfg)


def ramped_predictions(candles: pd.DataFrame, p_up: float, p_down: float) -> pd.DataFrame:
    """p_up rising linearly from 0.3 to ``p_up`` across ``candles``; p_down constant."""
    n = len(candles)
    return pd.DataFrame(
        {
            "timestamp": candles["timestamp"],
            "p_down": np.full(n, p_down),
            "p_neutral": 1 - p_up - p_down,
            "p_up": np.linspace(0.3, p_up, n),
        }
    )

"""Candles for the feature and label tests: the synthetic market, or random series."""

import numpy as np
import pandas as pd

from resnet_pipeline.market.synthetic import SyntheticSource


def synthetic(start: str, minutes: int, symbol: str = "BTCUSDT") -> pd.DataFrame:
    begin = pd.Timestamp(start, tz="UTC")
    return SyntheticSource(seed=7).fetch(symbol, begin, begin + pd.Timedelta(minutes=minutes))


def random_candles(seed: int, n: int, start: str = "2024-03-31 20:00") -> pd.DataFrame:
    """A random-walk candle series with flat candles and zero volumes sprinkled in."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    flat = rng.random(n) < 0.05
    high = np.maximum(open_, close) + np.where(flat, 0, spread)
    low = np.minimum(open_, close) - np.where(flat, 0, spread)
    close = np.where(flat, open_, close)
    high, low = np.where(flat, open_, high), np.where(flat, open_, low)
    volume = np.where(rng.random(n) < 0.05, 0.0, rng.gamma(2.0, 10.0, n))
    ts = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    return pd.DataFrame(
        {"timestamp": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )

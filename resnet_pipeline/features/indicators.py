"""Vectorized indicators where `ta` is slow or undefined at edges; each is tested against `ta`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); the first row is high - low."""
    prev_close = np.empty_like(close)
    prev_close[0] = np.nan
    prev_close[1:] = close[:-1]
    with np.errstate(invalid="ignore"):
        tr = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
    return tr


def wilder_atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14
) -> np.ndarray:
    """Wilder's ATR exactly as ``ta.volatility.AverageTrueRange`` defines it, without its loop.

    ta seeds row ``window - 1`` with the mean true range of the first ``window`` rows, then
    ``atr[i] = (atr[i-1] * (window - 1) + tr[i]) / window``: a first-order IIR filter that
    ``lfilter`` runs in C. Rows before the seed are NaN (ta writes 0 there, which reads as a
    real value).
    """
    n = len(close)
    atr = np.full(n, np.nan)
    if n < window:
        return atr
    tr = true_range(high, low, close)
    seed = tr[:window].mean()
    alpha = 1.0 / window
    filtered, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], tr[window:], zi=[(1.0 - alpha) * seed])
    atr[window - 1] = seed
    atr[window:] = filtered
    return atr


def rolling_mean_std(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of each trailing window, NaN before the first full window.

    Computed window by window rather than with sliding sums (as pandas does), so a value never
    depends on rows before its window: months computed separately agree to the last bit.
    """
    mean = np.full(len(x), np.nan)
    std = np.full(len(x), np.nan)
    if len(x) >= window:
        windows = np.lib.stride_tricks.sliding_window_view(x, window)
        mean[window - 1 :] = windows.mean(axis=1)
        std[window - 1 :] = windows.std(axis=1)
    return mean, std


def daily_vwap(
    day: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """VWAP of typical price anchored at each UTC midnight; ``day``: sorted day numbers.

    Until the day has traded any volume the VWAP is undefined; the typical price stands in, so
    the distance is 0 rather than a division by zero.
    """
    typical = (high + low + close) / 3.0
    # Sums restart at each midnight rather than subtracting running totals, whose rounding
    # would depend on where the series began.
    days = day.astype(np.int64)
    sums = pd.DataFrame({"pv": typical * volume, "v": volume}).groupby(days).cumsum()
    cum_pv, cum_v = sums["pv"].to_numpy(), sums["v"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cum_v > 0, cum_pv / cum_v, typical)

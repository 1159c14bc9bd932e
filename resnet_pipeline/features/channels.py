"""The 15 feature channels of SPEC 4, computed from candles with warm-up history.

Partition invariance: a month's features are computed on ``history`` (the end of the previous
month) followed by the month's candles, then only the month's rows are kept. The exponential
indicators (MACD's EMA26, Wilder's RSI and ATR) forget their starting point geometrically:
the slowest, EMA26, keeps (25/27)^n of it after n rows, about 4e-14 at n = 400, so
WARMUP_ROWS = 400 rows of history make monthly features equal whole-series features far below
the 1e-6 tolerance. The day-anchored VWAP also needs every earlier candle of the same UTC day,
so the history used reaches back at least to the first candle's midnight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import ta

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, FEATURE_DTYPE
from resnet_pipeline.features.indicators import daily_vwap, rolling_mean_std, wilder_atr

WARMUP_ROWS = 400


def warmup_history(history: pd.DataFrame | None, first: pd.Timestamp) -> pd.DataFrame | None:
    """The part of ``history`` the features of candles starting at ``first`` depend on."""
    if history is None or history.empty:
        return None
    history = history[history["timestamp"] < first]
    day_start = first.floor("D")
    keep = max(WARMUP_ROWS, int((history["timestamp"] >= day_start).sum()))
    return history.iloc[-keep:]


def _utc_naive(timestamps: pd.Series) -> np.ndarray:
    """datetime64 values in UTC without the per-element Timestamp objects of a tz-aware array."""
    return timestamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def _channels(c: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every channel on one continuous frame (float64); NaN where an indicator is undefined."""
    open_, high, low, close, volume = (
        c[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    close_s, volume_s = c["close"].astype("float64"), c["volume"].astype("float64")
    hl = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        body = np.where(hl > 0, np.abs(close - open_) / hl, 0.0)
    mavg, mstd = rolling_mean_std(close, 20)
    hband, lband = mavg + 2 * mstd, mavg - 2 * mstd
    width = hband - lband
    sma_volume, _ = rolling_mean_std(volume, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Collapsed bands (20 equal closes): the price sits at the middle band.
        pctb = np.where(width > 0, (close - lband) / width, np.where(np.isnan(mavg), np.nan, 0.5))
        # No volume for 20 minutes: the current (zero) volume is "as usual".
        volume_ratio = np.where(
            sma_volume > 0, volume / sma_volume, np.where(np.isnan(sma_volume), np.nan, 1.0)
        )
    obv = ta.volume.on_balance_volume(close_s, volume_s).to_numpy()
    obv_direction = np.sign(np.diff(obv, prepend=np.nan))
    vwap = daily_vwap(_utc_naive(c["timestamp"]).astype("datetime64[D]"), high, low, close, volume)
    log_return = np.log(close / np.concatenate(([np.nan], close[:-1])))
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "log_return": log_return,
        "hl_range": hl / close,
        "body_ratio": body,
        "rsi_14": ta.momentum.rsi(close_s, window=14).to_numpy(),
        "macd": ta.trend.macd(close_s, window_slow=26, window_fast=12).to_numpy() / close,
        "bb_pctb": pctb,
        "atr_14": wilder_atr(high, low, close, 14) / close,
        "volume_ratio": volume_ratio,
        "obv_direction": obv_direction,
        "vwap_distance": (close - vwap) / vwap,
    }


def compute_features(candles: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The 15 channels (float32) for each candle, plus ``warmup`` and ``gap_minutes``.

    ``history``: earlier candles of the same symbol (typically the previous month); only
    ``candles``' rows are returned. ``warmup`` marks rows that lie within the first
    WARMUP_ROWS candles of the available series, whose indicators are undefined (NaN) or still
    depend on where the data began. ``gap_minutes`` is the time since the previous candle (1 on
    a complete grid; NaN for the very first candle), so later stages can exclude outages.
    """
    if candles.empty:
        columns = {"timestamp": pd.Series(dtype="datetime64[ns, UTC]")}
        columns |= {name: pd.Series(dtype=FEATURE_DTYPE) for name in FEATURE_CHANNELS}
        columns |= {"warmup": pd.Series(dtype=bool), "gap_minutes": pd.Series(dtype=FEATURE_DTYPE)}
        return pd.DataFrame(columns)
    warm = warmup_history(history, candles["timestamp"].iloc[0])
    frame = candles if warm is None else pd.concat([warm, candles], ignore_index=True)
    frame = frame.reset_index(drop=True)
    channels = _channels(frame)
    offset = 0 if warm is None else len(warm)
    # History shorter than WARMUP_ROWS means the series starts inside it (first listed month).
    position = np.arange(len(frame)) + (
        0 if warm is None or len(warm) < WARMUP_ROWS else WARMUP_ROWS
    )
    times = _utc_naive(frame["timestamp"])
    gap = np.diff(times, prepend=times[:1]).astype("timedelta64[s]").astype(np.float64) / 60.0
    gap[0] = np.nan
    out = pd.DataFrame({"timestamp": frame["timestamp"].iloc[offset:].reset_index(drop=True)})
    for name in FEATURE_CHANNELS:
        values = channels[name][offset:]
        out[name] = np.where(np.isfinite(values), values, np.nan).astype(FEATURE_DTYPE)
    out["warmup"] = position[offset:] < WARMUP_ROWS
    out["gap_minutes"] = gap[offset:].astype(FEATURE_DTYPE)
    return out

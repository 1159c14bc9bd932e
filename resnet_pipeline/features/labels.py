"""3-class direction labels (SPEC 5, SPEC 14), missing where the future is not known yet.

Two threshold rules share one horizon h (``forward_window`` minutes):

* fixed (the SPEC 5 default): Up if ``future_return > threshold``, Down if ``< -threshold``;
* volatility-scaled (``vol_k`` set): the threshold at t is ``vol_k * sigma_t * sqrt(h)``, where
  sigma_t is the standard deviation (ddof 1) of the 1-minute log returns in the trailing
  ``vol_window`` minutes ending at t. A class then means "a move of k typical h-minute moves"
  in a quiet month and in a volatile one alike.

Gaps: a 1-minute return exists at minute s only when the candles of s - 1 and s are both
stored; a price change across an outage is not a 1-minute return and is left out of sigma.
sigma_t is defined only when its window holds at least ``vol_min_returns`` such returns;
rows without it get no label (<NA>, and no future_return, so both stay missing together),
never Neutral.

Exact across months: each window's sums run over exactly its own minutes, in an order fixed
by the clock (not as a difference of running totals from wherever the data began), so a month
labelled with the previous month's tail as ``history`` equals the same rows labelled on the
whole series, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

DOWN, NEUTRAL, UP = 0, 1, 2
CLASS_NAMES = ("Down", "Neutral", "Up")


def _refuse(field: str, value: object, rule: str, example: str) -> None:
    raise ValueError(f"LabelConfig.{field}={value!r}: {rule}, e.g. {example}")


def _whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class LabelConfig:
    """What a label variant may change; the defaults are the SPEC 5 rule.

    ``vol_k`` None: the fixed ``threshold`` applies. A number: the threshold is
    ``vol_k * sigma_t * sqrt(forward_window)`` and ``threshold`` is not used (``rule`` names
    the rule in force).
    """

    forward_window: int = 12  # the horizon h, in minutes
    threshold: float = 0.002
    vol_k: float | None = None
    vol_window: int = 1440  # minutes of 1-minute returns behind sigma_t, ending at t
    vol_min_returns: int = 720  # fewer returns in the window: no sigma, no label

    def __post_init__(self) -> None:
        if not _whole(self.forward_window) or self.forward_window < 1:
            _refuse(
                "forward_window",
                self.forward_window,
                "the label horizon is a whole number of minutes >= 1",
                "forward_window=12",
            )
        if not isinstance(self.threshold, Real) or not 0 <= self.threshold < 1:
            _refuse(
                "threshold",
                self.threshold,
                "the fixed threshold is a return in [0, 1)",
                "threshold=0.002 (0.2%)",
            )
        if self.vol_k is not None and (
            not isinstance(self.vol_k, Real) or not 0 < self.vol_k < math.inf
        ):
            _refuse(
                "vol_k",
                self.vol_k,
                "the volatility multiple is a finite number > 0 (or None for the fixed threshold)",
                "vol_k=0.5 (half a typical move over the horizon)",
            )
        if not _whole(self.vol_window) or self.vol_window < 2:
            _refuse(
                "vol_window",
                self.vol_window,
                "the trailing volatility window is a whole number of minutes >= 2",
                "vol_window=1440 (one day)",
            )
        if not _whole(self.vol_min_returns) or not 2 <= self.vol_min_returns <= self.vol_window:
            _refuse(
                "vol_min_returns",
                self.vol_min_returns,
                f"the returns sigma needs are a whole number in [2, vol_window={self.vol_window}]",
                f"vol_min_returns={max(2, self.vol_window // 2)} (half the window)",
            )

    @property
    def rule(self) -> str:
        """The threshold rule in force, in words (for metadata and reports)."""
        if self.vol_k is None:
            return f"fixed {self.threshold:g} over {self.forward_window} min"
        return (
            f"{self.vol_k:g} * sigma_{self.vol_window}min * sqrt({self.forward_window}) "
            f"over {self.forward_window} min"
        )

    @property
    def history_minutes(self) -> int:
        """How far before a month's first candle ``history`` must reach for exact labels."""
        return 0 if self.vol_k is None else self.vol_window


def _utc_minutes(timestamps: pd.Series) -> np.ndarray:
    """Whole minutes since 1970-01-01 UTC."""
    naive = timestamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[m]").astype(np.int64)


def _trailing_sums(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over slots (j - window, j] for every slot j >= window of ``values``, whose length
    is a multiple of ``window`` and whose slot 0 sits on a multiple of ``window`` minutes.

    Each window spans the tail of one aligned block and the head of the next: a reverse
    cumulative sum of the first and a cumulative sum of the second, each running over the
    window's own values only, so a sum does not depend on where the series starts.
    """
    blocks = values.reshape(-1, window)
    heads = np.cumsum(blocks, axis=1)
    tails = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1]
    tails = np.concatenate([tails[:, 1:], np.zeros((len(blocks), 1))], axis=1)
    return (tails[:-1] + heads[1:]).ravel()


def trailing_volatility(
    candles: pd.DataFrame,
    window: int = LabelConfig.vol_window,
    min_returns: int = LabelConfig.vol_min_returns,
    history: pd.DataFrame | None = None,
) -> np.ndarray:
    """sigma_t per candle: std (ddof 1) of the consecutive-minute log returns in the ``window``
    minutes ending at t; NaN with fewer than ``min_returns`` of them. ``history``: earlier
    candles of the symbol (the previous month's tail), used for the first windows."""
    if candles.empty:
        return np.zeros(0)
    own = _utc_minutes(candles["timestamp"])
    frames = [candles[["timestamp", "close"]]]
    if history is not None and not history.empty:
        earlier = _utc_minutes(history["timestamp"])
        reach = (earlier >= own.min() - window) & (earlier < own.min())
        frames.insert(0, history.loc[reach, ["timestamp", "close"]])
    both = pd.concat(frames)
    minutes = _utc_minutes(both["timestamp"])
    # A dense grid of whole blocks of ``window`` minutes, aligned on the epoch, from the block
    # holding the first minute any window of ``candles`` reaches back to.
    origin = (own.min() - window) // window * window
    slots = minutes - origin
    log_close = np.full(-(-(slots.max() + 1) // window) * window, np.nan)
    log_close[slots] = np.log(both["close"].to_numpy(np.float64))
    returns = np.diff(log_close, prepend=np.nan)  # NaN unless minutes s - 1 and s are stored
    counted = np.isfinite(returns)
    returns = np.where(counted, returns, 0.0)
    at = own - origin - window  # index of the window ending at each candle
    n = _trailing_sums(counted.astype(np.float64), window)[at]
    total = _trailing_sums(returns, window)[at]
    squares = _trailing_sums(returns * returns, window)[at]
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.maximum(squares - total * total / n, 0.0) / (n - 1)
    return np.where(n >= min_returns, np.sqrt(variance), np.nan)


def compute_labels(
    candles: pd.DataFrame,
    following: pd.DataFrame | None = None,
    config: LabelConfig = LabelConfig(),
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``future_return = close[t + h minutes] / close[t] - 1`` and its class, per candle.

    The horizon is measured in time, not rows: with a gap in the candles, "12 rows later" can be
    hours later, which is not what the label claims. When the candle at t + h minutes is not
    stored (the tail of the data, or an outage), or the volatility rule has too little history
    for sigma_t, the label is <NA>, never Neutral. ``following``: the next candles (the next
    month's first rows), used for the tail. ``history``: the earlier candles (the previous
    month's last ``config.history_minutes`` minutes suffice), used by the volatility rule.
    """
    times = candles["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    later = candles if following is None or following.empty else pd.concat([candles, following])
    later_times = later["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    later_close = later["close"].to_numpy(np.float64)
    order = np.argsort(later_times, kind="stable")
    later_times, later_close = later_times[order], later_close[order]
    target = times + np.timedelta64(config.forward_window, "m")
    pos = np.searchsorted(later_times, target).clip(max=len(later_times) - 1)
    found = later_times[pos] == target
    close = candles["close"].to_numpy(np.float64)
    future_return = np.where(found, later_close[pos] / close - 1.0, np.nan)
    if config.vol_k is None:
        threshold: float | np.ndarray = config.threshold
    else:
        sigma = trailing_volatility(candles, config.vol_window, config.vol_min_returns, history)
        threshold = config.vol_k * sigma * math.sqrt(config.forward_window)
        found &= np.isfinite(sigma)
        future_return = np.where(found, future_return, np.nan)
    with np.errstate(invalid="ignore"):
        label = np.where(
            future_return > threshold,
            UP,
            np.where(future_return < -threshold, DOWN, NEUTRAL),
        )
    return pd.DataFrame(
        {
            "timestamp": candles["timestamp"].reset_index(drop=True),
            "label": pd.arrays.IntegerArray(label.astype(np.int8), mask=~found),
            "future_return": future_return,
        }
    )

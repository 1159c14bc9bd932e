"""The feature channels by name, in the model's input order (SPEC 4): the names alone, so
configs and dataset code use them without the indicator libraries ``channels`` computes with."""

from __future__ import annotations

import numpy as np

FEATURE_DTYPE = np.float32  # every channel, stored and computed
FEATURE_CHANNELS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "log_return",
    "hl_range",
    "body_ratio",
    "rsi_14",
    "macd",
    "bb_pctb",
    "atr_14",
    "volume_ratio",
    "obv_direction",
    "vwap_distance",
)
PRICE_CHANNELS: tuple[str, ...] = ("open", "high", "low", "close")

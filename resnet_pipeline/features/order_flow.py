"""The `order_flow` family: who was buying, where the source reports it (``raw_candles``'
nullable order-flow columns; Binance exports have them, Bybit through ccxt does not).

``taker_buy_share`` = taker-buy base volume / volume (0.5 in a minute that traded nothing);
``trade_count`` = the number of trades. Both NaN where the source gave no order flow, so
those windows are excluded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.family import ChannelFamily, over_minutes
from resnet_pipeline.market.schema import order_flow_values

CHANNELS: tuple[str, ...] = ("taker_buy_share", "trade_count")


def order_flow_channels(frame: pd.DataFrame, _other: pd.DataFrame | None) -> dict[str, np.ndarray]:
    taker_buy = order_flow_values(frame, "taker_buy_volume")
    volume = frame["volume"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(volume > 0, taker_buy / volume, np.where(np.isnan(taker_buy), np.nan, 0.5))
    return {"taker_buy_share": share, "trade_count": order_flow_values(frame, "trades")}


ORDER_FLOW = ChannelFamily(
    name="order_flow",
    channels=CHANNELS,
    history_minutes=0,
    compute=over_minutes(CHANNELS, 0, order_flow_channels),
    needs_order_flow=True,
)

"""The `spec` family: the 15 channels of SPEC 4, exactly as the stored `features` hold them."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.family import ChannelFamily

# WARMUP_ROWS rows fit in a day of minutes, and the VWAP needs the candle's whole UTC day.
SPEC_HISTORY_MINUTES = 1440


def spec_channels(
    candles: pd.DataFrame, history: pd.DataFrame | None, _other: pd.DataFrame | None
) -> pd.DataFrame:
    """``compute_features``' channels and warm-up flag: the stored features are this family.
    Imported here, not above: the registry is read by ``check``, which must not load the
    indicator libraries (scipy) it computes with."""
    from resnet_pipeline.features.channels import compute_features

    return compute_features(candles, history)[[*FEATURE_CHANNELS, "warmup"]]


SPEC = ChannelFamily(
    name="spec",
    channels=FEATURE_CHANNELS,
    history_minutes=SPEC_HISTORY_MINUTES,
    compute=spec_channels,
)

"""The registry of channel families (SPEC 4, "Channel families"), and computing a selection.

Adding a family: one module with its ``ChannelFamily`` (one pure function), one line in
``FAMILIES``, one row in SPEC 4's table, and a test; selection, history and the invariance
and causality tests pick it up from here.
"""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.features.calendar_channels import CALENDAR
from resnet_pipeline.features.cross_asset import CROSS_ASSET
from resnet_pipeline.features.family import ChannelFamily
from resnet_pipeline.features.multi_timeframe import MULTI_TIMEFRAME
from resnet_pipeline.features.order_flow import ORDER_FLOW
from resnet_pipeline.features.spec_family import SPEC

FAMILIES: tuple[ChannelFamily, ...] = (SPEC, MULTI_TIMEFRAME, CALENDAR, CROSS_ASSET, ORDER_FLOW)
FAMILY_BY_NAME: dict[str, ChannelFamily] = {f.name: f for f in FAMILIES}
FAMILY_OF_CHANNEL: dict[str, ChannelFamily] = {c: f for f in FAMILIES for c in f.channels}
ALL_CHANNELS: tuple[str, ...] = tuple(c for f in FAMILIES for c in f.channels)


def families_of(channels: tuple[str, ...]) -> tuple[ChannelFamily, ...]:
    """The families the channels come from, in registry order."""
    used = {FAMILY_OF_CHANNEL[c].name for c in channels}
    return tuple(f for f in FAMILIES if f.name in used)


def compute_channels(
    channels: tuple[str, ...],
    candles: pd.DataFrame,
    history: pd.DataFrame | None = None,
    other: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``timestamp``, the channels in the given order (float32) and ``warmup`` (a row in any
    used family's warm-up) for each candle. ``history``: the symbol's earlier candles (at least
    the longest used family's ``history_minutes``); ``other``: the cross-asset symbol's
    candles over the same minutes and history."""
    unknown = [c for c in channels if c not in FAMILY_OF_CHANNEL]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}: use names from {list(ALL_CHANNELS)}")
    out = pd.DataFrame({"timestamp": candles["timestamp"].reset_index(drop=True)})
    warmup = pd.Series(False, index=out.index)
    computed: dict[str, pd.Series] = {}
    for family in families_of(channels):
        part = family.compute(candles.reset_index(drop=True), history, other)
        computed |= {c: part[c] for c in family.channels}
        warmup |= part["warmup"].to_numpy(bool)
    for name in channels:
        out[name] = computed[name].to_numpy()
    out["warmup"] = warmup.to_numpy(bool)
    return out

"""Which channels a model sees: names of channels or whole families -> the ordered channel list.

Channels come out in registry order whatever order they were named in (and once each), so a
feature set has one spelling: the same set, the same model input and configuration hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resnet_pipeline.features.cross_asset import CROSS_ASSET
from resnet_pipeline.features.families import (
    ALL_CHANNELS,
    FAMILIES,
    FAMILY_BY_NAME,
    FAMILY_OF_CHANNEL,
    families_of,
)


@dataclass(frozen=True)
class FeatureSelection:
    """The ordered channels, and the other symbol the cross-asset channels read (if any)."""

    channels: tuple[str, ...]
    cross_symbol: str | None = None

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f.name for f in families_of(self.channels))

    @property
    def history_minutes(self) -> int:
        """The longest warm-up the used families need before a month's first candle."""
        return max(f.history_minutes for f in families_of(self.channels))

    @property
    def needs_order_flow(self) -> bool:
        return any(f.needs_order_flow for f in families_of(self.channels))


def _valid_names() -> str:
    families = ", ".join(f.name for f in FAMILIES)
    return f"families: {families}; channels: {', '.join(ALL_CHANNELS)}"


def select_channels(
    names: Sequence[str], symbol: str, cross_symbol: str | None = None
) -> FeatureSelection:
    """The channels ``names`` select for a model of ``symbol``; each name is a family (all its
    channels) or a channel. Refuses, naming the bad value and the valid ones: an empty list,
    an unknown name, cross-asset channels without ``cross_symbol`` or with ``symbol`` itself,
    and a ``cross_symbol`` that no selected channel reads."""
    if isinstance(names, str) or not names:
        raise ValueError(
            f"no channel selected ({names!r}): give a list of channel or family names, e.g. "
            f"['spec'] for the 15 SPEC channels; {_valid_names()}"
        )
    wanted: set[str] = set()
    for name in names:
        if name in FAMILY_BY_NAME:
            wanted.update(FAMILY_BY_NAME[name].channels)
        elif name in FAMILY_OF_CHANNEL:
            wanted.add(name)
        else:
            raise ValueError(f"unknown channel or family {name!r}: {_valid_names()}")
    channels = tuple(c for c in ALL_CHANNELS if c in wanted)
    crossing = any(FAMILY_OF_CHANNEL[c] is CROSS_ASSET for c in channels)
    if crossing and not cross_symbol:
        raise ValueError(
            f"the cross_asset channels {list(CROSS_ASSET.channels)} read another stored "
            "symbol: name it with cross_symbol, e.g. ETHUSDT for a BTCUSDT model"
        )
    if crossing and cross_symbol == symbol:
        raise ValueError(
            f"cross_symbol {cross_symbol!r} is the traded symbol itself: cross_asset channels "
            "read another stored symbol, e.g. ETHUSDT for a BTCUSDT model"
        )
    if cross_symbol and not crossing:
        raise ValueError(
            f"cross_symbol {cross_symbol!r} is given but no cross_asset channel is selected: "
            f"add 'cross_asset' (or one of {', '.join(CROSS_ASSET.channels)}) to the channels, "
            "or drop cross_symbol"
        )
    return FeatureSelection(channels, cross_symbol if crossing else None)

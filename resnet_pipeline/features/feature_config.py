"""The channels a model sees, as a config part: the ``features`` section of experiment files and
the same fields of the main job's ``dataset_splits`` config.

The value kept is the selection's canonical spelling (``selection.select_channels``: every
channel once, in registry order), so ``[spec]`` and the 15 SPEC channel names are one
configuration, one hash. What depends on the traded symbol (a cross symbol equal to it) or on
the run (the source's order flow, the stored months' history) is checked where those are known
(``experiment_file``, ``fold_inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.selection import FeatureSelection, select_channels
from resnet_pipeline.knobs import KnobError, knob


@dataclass(frozen=True)
class FeatureConfig:
    channels: tuple[str, ...] = knob(
        FEATURE_CHANNELS,
        "the channels the model sees: channel names or whole families (spec, multi_timeframe, "
        "calendar, cross_asset, order_flow); the default is the 15 SPEC channels",
    )
    cross_symbol: str | None = knob(
        None,
        "the other stored symbol the cross_asset channels read (null: no cross_asset channel)",
    )

    def __post_init__(self) -> None:
        cross = self.cross_symbol.strip().upper() if self.cross_symbol else self.cross_symbol
        try:
            selection = select_channels(self.channels, symbol="", cross_symbol=cross)
        except ValueError as error:
            field = "cross_symbol" if "cross_symbol" in str(error) else "channels"
            shown = list(self.channels) if field == "channels" else cross
            raise KnobError(field, f"{field}={shown!r}: {error}") from None
        object.__setattr__(self, "channels", selection.channels)
        object.__setattr__(self, "cross_symbol", selection.cross_symbol)

    def selection(self, symbol: str) -> FeatureSelection:
        """The selection for a model of ``symbol``; ``ValueError`` when the cross symbol is it."""
        return select_channels(self.channels, symbol, self.cross_symbol)

    @property
    def stored(self) -> bool:
        """Whether the channels are exactly the stored ``features`` asset's (nothing computed)."""
        return self.channels == FEATURE_CHANNELS

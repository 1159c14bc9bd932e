"""The `venue` resource: the kind of market the strategy trades (spot or linear perpetual).

Backtests and the live signal read shorting rules from it (spot is long-only unless shorts
are borrowed); the definitions set it from RESNET_BYBIT_MARKET.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from resnet_pipeline.market.source import MARKETS


class TradingVenue(dg.ConfigurableResource):
    market: str = Field(
        default="spot", description="spot (long-only unless shorts borrow) | linear (perpetual)"
    )

    @field_validator("market")
    @classmethod
    def _known(cls, market: str) -> str:
        if market not in MARKETS:
            raise ValueError(f"venue.market={market!r}: use one of {', '.join(MARKETS)}")
        return market

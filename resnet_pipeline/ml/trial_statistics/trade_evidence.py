"""How much trading a verdict rests on, and the floor below which it says nothing.

The deflated Sharpe ratio leans on a normal approximation of the Sharpe ratio's error, and the
PBO and SPA on the days' returns varying: five winning days out of 61 and none lost pass all
three (DSR 0.997, PBO 0.10, SPA p 0.001) on evidence nobody would bet on. So "edge" needs the
judged trial to have made at least ``min_trades`` trades on at least ``min_active_days`` days,
and every verdict line says how many it rests on. An active day is a day with a non-zero daily
return: in the market, or paying a fee (a day out of the market returns exactly 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from resnet_pipeline.ml.trial_statistics.returns_matrix import ReturnsMatrix, TrialReturnsError
from resnet_pipeline.number_format import count

MIN_TRADES = 30
MIN_ACTIVE_DAYS = 10


@dataclass(frozen=True)
class TradeEvidence:
    trial: str
    trades: int
    active_days: int
    min_trades: int
    min_active_days: int

    @property
    def enough(self) -> bool:
        return self.trades >= self.min_trades and self.active_days >= self.min_active_days

    @property
    def text(self) -> str:
        """'5 trades on 5 days'."""
        return f"{count(self.trades, 'trade')} on {count(self.active_days, 'day')}"

    @property
    def floor(self) -> str:
        """'at least 30 trades on at least 10 days'."""
        return (
            f"at least {count(self.min_trades, 'trade')} on at least "
            f"{count(self.min_active_days, 'day')}"
        )

    def to_dict(self) -> dict:
        return asdict(self) | {"enough": self.enough}


def trade_evidence(
    matrix: ReturnsMatrix,
    trial: str,
    trades: Mapping[str, int],
    min_trades: int = MIN_TRADES,
    min_active_days: int = MIN_ACTIVE_DAYS,
) -> TradeEvidence:
    """``trial``'s trade count (from ``trades``: column name -> trades of its backtest) and its
    active days in ``matrix``, against the floor."""
    if min_trades < 1 or min_active_days < 1:
        raise ValueError(
            f"min_trades={min_trades}, min_active_days={min_active_days}: the floor needs at "
            f"least 1 of each (defaults {MIN_TRADES} and {MIN_ACTIVE_DAYS})"
        )
    missing = [name for name in matrix.names if name not in trades]
    if missing:
        raise TrialReturnsError(
            f"no trade count for {missing[:5]} ({len(missing)} of {matrix.n_variants} variants): "
            "pass every variant's number of trades (its backtest's 'trades'), so the verdict "
            "can say how many trades it rests on"
        )
    column = matrix.values[:, matrix.names.index(trial)]
    active = int(np.count_nonzero(column))
    return TradeEvidence(trial, int(trades[trial]), active, min_trades, min_active_days)

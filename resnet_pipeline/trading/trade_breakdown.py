"""Where a backtest's result came from, read off its trade log: the gross result before costs,
the fees and slippage it paid, and which exit rule closed its trades.

Every amount is in the quote currency and, as a share, of the starting equity: the trades'
net results add up to the final equity minus the starting one, so net = gross - costs holds
exactly in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from resnet_pipeline.trading.fills import EXIT_REASONS

# What each exit rule is called in a sentence ("97% closed by the confidence exit").
EXIT_NAMES: dict[str, str] = {
    "stop": "the stop",
    "trailing_stop": "the trailing stop",
    "take_profit": "the take-profit",
    "reversal": "the reversal exit (the opposite signal)",
    "low_confidence": "the confidence exit",
    "time": "the time exit (maximum hold)",
    "end": "the end of the data",
}

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


def quote_currency(symbol: str) -> str:
    """The currency a symbol's prices are in ('BTCUSDT' -> 'USDT'), or 'quote currency'."""
    return next(
        (q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "quote currency"
    )


@dataclass(frozen=True)
class ExitRow:
    """The trades one exit rule closed."""

    reason: str
    trades: int
    share: float  # of all trades
    median_hold_minutes: float
    mean_return: float  # net, per trade, of the position's notional
    net: float  # their net result, in the quote currency

    @property
    def name(self) -> str:
        return EXIT_NAMES.get(self.reason, self.reason)


@dataclass(frozen=True)
class TradeBreakdown:
    """A backtest's net result split into gross and costs, and its trades by exit rule (most
    trades first)."""

    initial_equity: float
    trades: int
    net: float
    fees: float  # exchange fees and short borrowing
    borrow: float  # the borrowing part of ``fees``
    slippage: float
    exits: tuple[ExitRow, ...]

    @property
    def costs(self) -> float:
        return self.fees + self.slippage

    @property
    def gross(self) -> float:
        return self.net + self.costs

    def share(self, amount: float) -> float:
        """``amount`` as a share of the starting equity."""
        return amount / self.initial_equity

    @property
    def main_exit(self) -> ExitRow | None:
        return self.exits[0] if self.exits else None


def trade_breakdown(trades: pd.DataFrame, initial_equity: float) -> TradeBreakdown:
    """``trades``: the backtest's trade log (``BacktestResult.trades``)."""
    if trades.empty:
        return TradeBreakdown(initial_equity, 0, 0.0, 0.0, 0.0, 0.0, ())
    n = len(trades)
    rows = [
        ExitRow(
            reason=str(reason),
            trades=len(group),
            share=len(group) / n,
            median_hold_minutes=float(group["hold_minutes"].median()),
            mean_return=float(group["return"].mean()),
            net=float(group["pnl"].sum()),
        )
        for reason, group in trades.groupby("reason", sort=False)
    ]
    rows.sort(key=lambda row: (-row.trades, EXIT_REASONS.index(row.reason)))
    return TradeBreakdown(
        initial_equity=initial_equity,
        trades=n,
        net=float(trades["pnl"].sum()),
        fees=float(trades["fees"].sum()),
        borrow=float(trades["borrow_fee"].sum()),
        slippage=float(trades["slippage"].sum()),
        exits=tuple(rows),
    )

"""A backtest's result told from its trades: the "why" line every report opens with (net =
gross - costs, over how many trades, closed mostly by which exit) and the exit-reason
table."""

from __future__ import annotations

from resnet_pipeline.number_format import (
    count,
    minutes,
    money,
    percent,
    signed_percent,
)
from resnet_pipeline.reports.html import table
from resnet_pipeline.trading.trade_breakdown import TradeBreakdown

EXIT_COLUMNS = [
    "exit reason",
    "trades",
    "share of trades",
    "median holding",
    "mean net return per trade",
    "total net contribution",
]


def why_line(breakdown: TradeBreakdown, currency: str, no_trades: str = "") -> str:
    """E.g. "Net -12.7% = gross -0.45% - costs 12.3% (fees 1,100 USDT + slippage 129 USDT)
    over 408 trades; 97% closed by the confidence exit after a median 1 min". Shares are of
    the starting equity. ``no_trades``: why there was none (said when there was none)."""
    b = breakdown
    if not b.trades:
        why = f": {no_trades.removeprefix('0 trades: ')}" if no_trades else ""
        return f"Net 0% over 0 trades, no costs paid{why}"
    costs = f"fees {money(b.fees, currency)} + slippage {money(b.slippage, currency)}"
    if b.borrow:
        costs += f", of the fees {money(b.borrow, currency)} for borrowing"
    line = (
        f"Net {signed_percent(b.share(b.net))} = gross {signed_percent(b.share(b.gross))} - "
        f"costs {percent(b.share(b.costs))} ({costs}) over {count(b.trades, 'trade')}"
    )
    main = b.main_exit
    return (
        f"{line}; {percent(main.share)} closed by {main.name} after a median "
        f"{minutes(main.median_hold_minutes)}"
    )


def exit_reasons_html(breakdown: TradeBreakdown, currency: str) -> str:
    """One row per exit rule that closed a trade, most trades first: how many, their share,
    median holding, mean net return per trade (of its notional) and their total net result
    (quote currency and share of the starting equity)."""
    rows = [
        {
            "exit reason": row.name,
            "trades": count(row.trades, "trade"),
            "share of trades": percent(row.share),
            "median holding": minutes(row.median_hold_minutes),
            "mean net return per trade": signed_percent(row.mean_return),
            "total net contribution": f"{money(row.net, currency)} "
            f"({signed_percent(breakdown.share(row.net))} of the starting equity)",
        }
        for row in breakdown.exits
    ]
    if not rows:
        rows = [{"exit reason": "none: 0 trades", "trades": count(0, "trade")}]
    return table(rows, EXIT_COLUMNS)

"""The self-contained HTML report of one symbol: pictures embedded, no external files."""

from __future__ import annotations

import html

import numpy as np

from resnet_pipeline.reports.format import number
from resnet_pipeline.reports.plots import (
    confusion_matrix_plot,
    data_uri,
    equity_curves,
    training_curves,
)
from resnet_pipeline.trading.performance import CONVENTIONS, SHORT_PERIOD_DAYS
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.met { color: #11772d; font-weight: 600; } .missed { color: #b3261e; font-weight: 600; }
.undefined { color: #6b5900; font-weight: 600; }
.note { background: #f5f5f5; padding: 0.6rem 1rem; border-left: 4px solid #888; }
img { max-width: 100%; }
"""


def _cell(value: object) -> str:
    return html.escape(number(value))


def table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if c == "verdict":  # met / not met (why) / not defined (why): never blank
                css = {True: "met", False: "missed", None: "undefined"}[row.get("met")]
                cells.append(f'<td class="{css}">{html.escape(str(value))}</td>')
            else:
                cells.append(f"<td>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _items(lines: list[str] | tuple[str, ...]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in lines) + "</ul>"


def render_report(
    symbol: str,
    period: tuple[str, str],
    notes: list[str],
    sections: list[tuple[str, str]],
    images: list[tuple[str, bytes]],
) -> str:
    """``sections``: (title, HTML body) pairs; ``images``: (title, PNG bytes) pairs. The
    conventions behind every figure close the report, whatever it holds."""
    parts = [
        f"<h1>{html.escape(symbol)}: ResNet direction classifier, test period report</h1>",
        f"<p>Test period {html.escape(period[0])} to {html.escape(period[1])} (UTC).</p>",
        f'<div class="note">{_items(notes)}</div>',
    ]
    for title, body in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>{body}")
    for title, png in images:
        parts.append(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="{data_uri(png)}">'
        )
    parts.append(f"<h2>Conventions</h2>{_items(CONVENTIONS)}")
    title = f"<title>{html.escape(symbol)} report</title>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{title}<style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def backtest_report_html(
    symbol: str,
    evaluation: StrategyEvaluation,
    classification_rows: list[dict],
    confusion: list[list[int]],
    history: list[dict],
) -> str:
    """The report of one symbol: targets, strategy vs. buy-and-hold, classification with
    baselines, equity/drawdown, confusion matrix and training curves."""
    m, b = evaluation.metrics, evaluation.benchmark_metrics
    short = m["period_days"] < SHORT_PERIOD_DAYS
    annualized = ("annualized_return", "sharpe", "sortino", "calmar")
    trading_rows = [
        {
            "metric": f"{k} (short period: see warning)" if short and k in annualized else k,
            "strategy": m.get(k),
            "buy_and_hold": b.get(k),
        }
        for k in (
            "total_return",
            "annualized_return",
            "sharpe",
            "sortino",
            "max_drawdown",
            "calmar",
        )
    ] + [
        {"metric": k, "strategy": m.get(k), "buy_and_hold": None}
        for k in (
            "win_rate",
            "profit_factor",
            "trades",
            "average_hold_minutes",
            "exposure",
            "fees_paid",
        )
    ]
    cfg = evaluation.result.config
    notes = [
        f"Fees {cfg.fee_rate:.2%} per fill and slippage {cfg.slippage_bps:g} bps per fill are "
        "included; decisions at a bar's close fill at the next bar's open.",
        f"{evaluation.bars:,} one-minute bars, {evaluation.bars_with_prediction:,} with a "
        f"model prediction; {m['trades']} trades. Sharpe and Sortino use daily returns "
        "annualized with 365 days (see Conventions).",
        "Baselines stand beside the model: a target is met only when the model also beats its "
        "baseline.",
        *evaluation.notes,
    ]
    sections = [
        (
            "Trading targets (SPEC 10)",
            table(
                evaluation.targets,
                ["metric", "value", "target", "baseline", "baseline_value", "verdict"],
            ),
        ),
        ("Strategy vs. buy-and-hold", table(trading_rows, ["metric", "strategy", "buy_and_hold"])),
        (
            "Classification on the test split, with baselines",
            table(
                classification_rows,
                ["metric", "resnet", "majority", "logistic", "target", "verdict"],
            ),
        ),
    ]
    images = [
        ("Equity and drawdown", equity_curves(evaluation.result.equity, evaluation.benchmark))
    ]
    images.append(
        (
            "Confusion matrix",
            confusion_matrix_plot(np.array(confusion)),
        )
    )
    if history:
        images.append(("Training curves", training_curves(history)))
    period = (str(evaluation.result.equity.index[0]), str(evaluation.result.equity.index[-1]))
    return render_report(symbol, period, notes, sections, images)

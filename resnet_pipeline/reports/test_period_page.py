"""The test-period reports: ``test_metrics``' headline and plots, and ``backtest_report``'s
HTML page (classification and strategy on the test split, beside the baselines and
buy-and-hold), built from the same pieces as the walk-forward report. A test split is one
model, so its months stand where the walk-forward's folds do."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.evaluation.classification import metrics_table
from resnet_pipeline.ml.evaluation.stitched_metrics import (
    classification_conditions,
    monthly_table,
    proba_of,
    sharpe_condition,
    split_intervals,
)
from resnet_pipeline.number_format import percent
from resnet_pipeline.reports import diagnostics
from resnet_pipeline.reports.html import table
from resnet_pipeline.reports.page import Figure, page
from resnet_pipeline.reports.report_figures import (
    classification_figures,
    equity_figure,
    training_figure,
)
from resnet_pipeline.reports.report_tables import (
    intervals_html,
    monthly_html,
    settings_html,
    sweep_html,
)
from resnet_pipeline.trading.performance import CONVENTIONS, SHORT_PERIOD_DAYS
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation
from resnet_pipeline.verdicts import Headline, majority_name

CLASSIFICATION_RULE = "EDGE needs both conditions better: their 95% lower bounds above 0"
BACKTEST_RULE = "EDGE needs all three conditions better: their 95% lower bounds above 0"


@dataclass(frozen=True)
class SplitView:
    """What the test split shows: the headline, the per-month rows and the plots."""

    headline: Headline
    rows: list[dict]
    figures: list[Figure]
    intervals: dict
    majority: str
    frame: pd.DataFrame


def split_view(
    predictions: pd.DataFrame, report: dict, threshold: float, n_boot: int = 1000, seed: int = 0
) -> SplitView:
    """``predictions``: ``evaluate_split``'s frame (the model's and the baselines'
    probabilities and the label per test minute); ``report``: its metrics report."""
    frame = diagnostics.with_month_folds(predictions)
    intervals = split_intervals(frame, n_boot, seed)
    majority = majority_name(CLASS_NAMES, proba_of(frame, "majority"))
    met = sum(1 for t in report["targets"] if t["met"] is True)
    notes = (f"SPEC 10 classification targets met: {met} of {len(report['targets'])}",)
    headline = Headline(classification_conditions(intervals, majority), notes, CLASSIFICATION_RULE)
    rows = monthly_table(frame, max(n_boot // 5, 50), seed)
    figures = classification_figures(frame, rows, majority, threshold)
    return SplitView(headline, rows, figures, intervals, majority, frame)


TRADING_SHOWN = ("total_return", "annualized_return", "sharpe", "sortino", "max_drawdown", "calmar")
STRATEGY_ONLY = (
    "win_rate",
    "profit_factor",
    "trades",
    "average_hold_minutes",
    "exposure",
    "fees_paid",
)


@dataclass(frozen=True)
class PeriodPage:
    html: str
    headline: Headline
    figures: list[Figure]


def backtest_headline(
    view: SplitView, evaluation: StrategyEvaluation, trading: dict, why_no_sharpe: str
) -> Headline:
    """The walk-forward verdict's three conditions on the test period, then the trades and
    returns beside buy-and-hold and the targets met."""
    m, b = evaluation.metrics, evaluation.benchmark_metrics
    met = sum(1 for t in evaluation.targets if t["met"] is True)
    notes = (
        f"{m['trades']:,} trades: total return after costs {percent(m['total_return'])}, "
        f"buy-and-hold {percent(b['total_return'])} over the same bars",
        f"SPEC 10 trading targets met: {met} of {len(evaluation.targets)}",
    )
    conditions = (*view.headline.conditions, sharpe_condition(trading, why_no_sharpe))
    return Headline(conditions, notes, BACKTEST_RULE)


def backtest_report_html(
    symbol: str,
    evaluation: StrategyEvaluation,
    metrics_report: dict,
    view: SplitView,
    headline: Headline,
    history: list[dict],
) -> PeriodPage:
    """The report of one symbol's test period: headline, plots (per-month differences,
    equity, class mix, confusion, reliability, histograms, threshold sweep, training
    curves), then the tables with targets and verdicts, then the conventions."""
    m, b = evaluation.metrics, evaluation.benchmark_metrics
    short = m["period_days"] < SHORT_PERIOD_DAYS
    annualized = ("annualized_return", "sharpe", "sortino", "calmar")
    trading = {
        f"{k} (short period: see warning)" if short and k in annualized else k: k
        for k in TRADING_SHOWN
    }
    trading_rows = [
        {"metric": label, "strategy": m.get(k), "buy_and_hold": b.get(k)}
        for label, k in trading.items()
    ] + [{"metric": k, "strategy": m.get(k), "buy_and_hold": None} for k in STRATEGY_ONLY]
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
    figures = [
        view.figures[0],
        equity_figure(evaluation.result.equity, evaluation.benchmark),
        *view.figures[1:],
        *([training_figure(history)] if history else []),
    ]
    tables = [
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
                metrics_table(metrics_report),
                ["metric", "resnet", "majority", "logistic", "target", "verdict"],
            ),
        ),
        ("Per month", monthly_html(view.rows, view.majority)),
        ("95% intervals (test split)", intervals_html(view.intervals)),
        ("Strategy settings used", settings_html(cfg.to_dict())),
        ("Threshold sweep", sweep_html(diagnostics.threshold_sweep(view.frame))),
    ]
    start, end = evaluation.result.equity.index[0], evaluation.result.equity.index[-1]
    html = page(
        f"{symbol}: ResNet direction classifier, test period report",
        f"Test period {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC).",
        headline,
        figures,
        tables,
        notes,
        [("Conventions", list(CONVENTIONS))],
    )
    return PeriodPage(html, headline, figures)

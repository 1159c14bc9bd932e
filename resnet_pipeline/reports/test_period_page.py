"""The test-period reports: ``test_metrics``' headline and plots, and ``backtest_report``'s
HTML page (classification and strategy on the test split, beside the baselines and
buy-and-hold), built from the same pieces as the walk-forward report. A test split is one
model, so its months stand where the walk-forward's folds do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.evaluation.classification import metrics_table
from resnet_pipeline.ml.evaluation.run_settings import RunSettings, TrainingBudget
from resnet_pipeline.ml.evaluation.stitched_metrics import (
    classification_conditions,
    monthly_table,
    proba_of,
    sharpe_condition,
    split_intervals,
)
from resnet_pipeline.number_format import (
    UNIT_NOTE,
    count,
    metric,
    percent,
    short,
    signed_percent,
)
from resnet_pipeline.reports import diagnostics
from resnet_pipeline.reports.first_screen import OtherView, first_screen_html
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
    targets_html,
    trading_html,
)
from resnet_pipeline.reports.trade_story import exit_reasons_html, why_line
from resnet_pipeline.trading.performance import CONVENTIONS, SHORT_PERIOD_DAYS
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation
from resnet_pipeline.trading.trade_breakdown import quote_currency, trade_breakdown
from resnet_pipeline.verdicts import MET_BUT_LOST, Headline, majority_name

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
PREDICTORS = ("resnet", "majority", "logistic")
STRATEGY_ONLY = (
    "win_rate",
    "profit_factor",
    "trades",
    "average_hold_minutes",
    "exposure",
    "fees_paid",
)


ANNUALIZED = ("annualized_return", "sharpe", "sortino", "calmar")


def short_period(metrics: dict) -> tuple[str, ...]:
    """The annualized metrics to flag: all of them when the period is under 30 days."""
    return ANNUALIZED if metrics["period_days"] < SHORT_PERIOD_DAYS else ()


@dataclass(frozen=True)
class PeriodPage:
    html: str
    headline: Headline
    figures: list[Figure]
    settings: RunSettings  # what the result rests on (``run_settings.settings_difference``)


def targets_note(targets: list[dict]) -> str:
    """How many SPEC 10 targets were met, naming those met by a strategy that lost."""
    met = [t for t in targets if t["met"] is True]
    hollow = [t["metric"] for t in met if t["verdict"] == MET_BUT_LOST]
    but = f" ({', '.join(hollow)}: {MET_BUT_LOST})" if hollow else ""
    return f"SPEC 10 trading targets met: {len(met)} of {len(targets)}{but}"


def backtest_headline(
    view: SplitView,
    evaluation: StrategyEvaluation,
    trading: dict,
    why_no_sharpe: str,
    currency: str,
) -> Headline:
    """The walk-forward verdict's three conditions on the test period, then why the strategy
    made what it made (``trade_story.why_line``), buy-and-hold and the targets met."""
    b = evaluation.benchmark_metrics
    result = evaluation.result
    breakdown = trade_breakdown(result.trades, result.config.initial_equity)
    notes = (
        why_line(breakdown, currency, why_no_sharpe if not breakdown.trades else ""),
        f"Buy-and-hold over the same bars: {signed_percent(b['total_return'])}",
        targets_note(evaluation.targets),
    )
    conditions = (*view.headline.conditions, sharpe_condition(trading, why_no_sharpe))
    return Headline(conditions, notes, BACKTEST_RULE)


def period_settings(evaluation: StrategyEvaluation, training: TrainingBudget | None) -> RunSettings:
    """What a test period's result rests on: the strategy, the training and the period."""
    start, end = evaluation.result.equity.index[0], evaluation.result.equity.index[-1]
    period = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC)"
    return RunSettings(evaluation.result.config, training, period)


def backtest_report_html(
    symbol: str,
    evaluation: StrategyEvaluation,
    metrics_report: dict,
    view: SplitView,
    headline: Headline,
    history: list[dict],
    training: TrainingBudget | None,
    other_views: Sequence[OtherView] = (),
) -> PeriodPage:
    """The report of one symbol's test period: headline, what it rests on (the strategy's
    rules, the training, the other view when given), plots (per-month differences, equity,
    class mix, confusion, reliability, histograms, threshold sweep, training curves), then
    the tables with targets and verdicts, then the conventions."""
    m, b = evaluation.metrics, evaluation.benchmark_metrics
    cfg = evaluation.result.config
    currency = quote_currency(symbol)
    notes = [
        f"Fees {percent(cfg.fee_rate)} per fill and slippage {short(cfg.slippage_bps)} bps per "
        "fill are included; decisions at a bar's close fill at the next bar's open.",
        f"{evaluation.bars:,} one-minute bars, {evaluation.bars_with_prediction:,} with a "
        f"model prediction; {count(m['trades'], 'trade')}. Sharpe and Sortino use daily returns "
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
    breakdown = trade_breakdown(evaluation.result.trades, cfg.initial_equity)
    tables = [
        ("Trading targets (SPEC 10)", targets_html(evaluation.targets, currency)),
        (
            "Strategy vs. buy-and-hold",
            trading_html(m, b, (*TRADING_SHOWN, *STRATEGY_ONLY), currency, short_period(m)),
        ),
        ("Trades by exit reason", exit_reasons_html(breakdown, currency)),
        (
            "Classification on the test split, with baselines",
            table(
                [
                    row | {k: metric(row["metric"], row[k]) for k in PREDICTORS}
                    for row in metrics_table(metrics_report)
                ],
                ["metric", *PREDICTORS, "target", "verdict"],
            ),
        ),
        ("Per month", monthly_html(view.rows, view.majority)),
        ("95% intervals (test split)", intervals_html(view.intervals)),
        ("Strategy settings used", settings_html(cfg)),
        ("Threshold sweep", sweep_html(diagnostics.threshold_sweep(view.frame))),
    ]
    settings = period_settings(evaluation, training)
    html = page(
        f"{symbol}: ResNet direction classifier, test period report",
        f"Test period {settings.period}.",
        headline,
        figures,
        tables,
        notes,
        [("Conventions", [*CONVENTIONS, UNIT_NOTE])],
        first_screen_html(settings, other_views),
    )
    return PeriodPage(html, headline, figures, settings)

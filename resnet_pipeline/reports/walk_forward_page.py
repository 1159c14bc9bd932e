"""The walk-forward report (``reports.research_page``: the report of one trial with its per-month
diagnostics): the headline, the plots (per-month differences with intervals, stitched equity,
class mix, confusion, reliability, probability histograms, threshold sweep, training curves per
fold, drift), then the tables."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from resnet_pipeline.ml.evaluation.run_settings import RunSettings, TrainingBudget
from resnet_pipeline.ml.evaluation.shown_metrics import SHOWN
from resnet_pipeline.ml.evaluation.stitched_metrics import summary_headline
from resnet_pipeline.number_format import UNIT_NOTE
from resnet_pipeline.reports import diagnostics
from resnet_pipeline.reports.first_screen import OtherView, first_screen_html
from resnet_pipeline.reports.report_tables import (
    folds_html,
    intervals_html,
    monthly_html,
    pooled_html,
    settings_html,
    sweep_html,
    trading_html,
)
from resnet_pipeline.reports.research_page import ResearchPage, TrialView, research_page
from resnet_pipeline.reports.trade_story import exit_reasons_html, why_line
from resnet_pipeline.trading.performance import CONVENTIONS
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.trade_breakdown import quote_currency, trade_breakdown

TRADING_SHOWN = ("total_return", "sharpe", "sortino", "max_drawdown", "calmar", "trades", "days")


def walk_forward_page(
    symbol: str,
    summary: dict,
    folds: list[dict],
    stitched: pd.DataFrame,
    equity: pd.Series,
    benchmark: pd.Series,
    strategy_settings: dict,
    drift: pd.DataFrame,
    trades: pd.DataFrame,
    other_views: Sequence[OtherView] = (),
) -> ResearchPage:
    """``summary``: ``walk_forward_summary`` with the stitched backtest's ``strategy`` and
    ``buy_and_hold`` metrics; ``folds``: each fold's fold.json with ``predicted`` (its
    minutes in the stitched series), ``epochs_run``, ``train_samples`` and ``history``;
    ``drift``: ``drift_zscores``; ``trades``: the stitched backtest's trade log."""
    rows = summary["monthly"]
    cfg = StrategyConfig(**strategy_settings)
    currency = quote_currency(symbol)
    breakdown = trade_breakdown(trades, cfg.initial_equity)
    why = why_line(breakdown, currency, summary["why_no_sharpe"])
    training = TrainingBudget.of_models(
        [f.get("epochs_run", 0) for f in folds], [f.get("train_samples", 0) for f in folds], None
    )
    period = f"{summary['period'][0][:16]} to {summary['period'][1][:16]} (UTC)"
    view = TrialView(
        stitched,
        float(strategy_settings["threshold"]),
        equity,
        benchmark,
        monthly=rows,
        majority=summary["majority"],
        histories={f["month"]: f.get("history") or [] for f in folds},
        drift=drift,
    )
    tables = [
        ("Per month", monthly_html(rows, summary["majority"])),
        ("Pooled over all months", pooled_html(summary["pooled"], SHOWN)),
        ("95% intervals", intervals_html(summary["intervals"]["classification"])),
        ("95% intervals of the Sharpe", intervals_html(summary["intervals"]["trading"])),
        (
            "Stitched backtest vs. buy-and-hold",
            trading_html(summary["strategy"], summary["buy_and_hold"], TRADING_SHOWN, currency),
        ),
        ("Trades by exit reason", exit_reasons_html(breakdown, currency)),
        ("Folds: windows (UTC), sizes and training", folds_html(folds)),
        ("Strategy settings used", settings_html(cfg)),
        ("Threshold sweep", sweep_html(diagnostics.threshold_sweep(stitched))),
    ]
    how = [
        "Each month is predicted by a model trained only on earlier data (label horizons "
        "purged at the boundary), normalized with its own training statistics; the baselines "
        "are refitted on the same fold.",
        f"Intervals: {summary['bootstrap']}.",
        f"AUC: {summary['auc_rule']}.",
        "Verdict: EDGE only when all three lower bounds are above 0 (accuracy over the "
        "majority class, AUC over the logistic regression, Sharpe after costs).",
        "Probabilistic Sharpe ratio: P(true Sharpe > 0) given the days, skew and kurtosis.",
        *CONVENTIONS,
        UNIT_NOTE,
    ]
    lead = f"{summary['folds']} monthly folds, {summary['samples']:,} predicted minutes, {period}."
    return research_page(
        f"{symbol}: walk-forward out-of-sample report",
        lead,
        summary_headline(summary, why),
        view,
        tables,
        [],
        [("How the numbers are made", how)],
        rests_on=first_screen_html(RunSettings(cfg, training, period), other_views),
    )

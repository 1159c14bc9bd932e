"""The walk-forward report (``reports.research_page``: the report of one trial with its per-month
diagnostics): the headline, the plots (per-month differences with intervals, stitched equity,
class mix, confusion, reliability, probability histograms, threshold sweep, training curves per
fold, drift), then the tables."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.ml.evaluation.shown_metrics import SHOWN
from resnet_pipeline.ml.evaluation.stitched_metrics import summary_headline
from resnet_pipeline.reports import diagnostics
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
from resnet_pipeline.trading.performance import CONVENTIONS

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
) -> ResearchPage:
    """``summary``: ``walk_forward_summary`` with the stitched backtest's ``strategy`` and
    ``buy_and_hold`` metrics; ``folds``: each fold's fold.json with ``predicted`` (its
    minutes in the stitched series) and ``history``; ``drift``: ``drift_zscores``."""
    rows = summary["monthly"]
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
            trading_html(summary["strategy"], summary["buy_and_hold"], TRADING_SHOWN),
        ),
        ("Folds: windows (UTC), sizes and training", folds_html(folds)),
        ("Strategy settings used", settings_html(strategy_settings)),
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
    ]
    lead = (
        f"{summary['folds']} monthly folds, {summary['samples']:,} predicted minutes, "
        f"{summary['period'][0][:16]} to {summary['period'][1][:16]} (UTC)."
    )
    return research_page(
        f"{symbol}: walk-forward out-of-sample report",
        lead,
        summary_headline(summary),
        view,
        tables,
        [],
        [("How the numbers are made", how)],
    )

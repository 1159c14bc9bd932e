"""The plots every report shares, named: ``name`` is the metadata key in the Dagster UI and
the element id in the HTML page."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.reports import diagnostic_plots as draw
from resnet_pipeline.reports import diagnostics
from resnet_pipeline.reports.page import Figure
from resnet_pipeline.reports.plots import equity_curves, training_curves

INTERVAL_NOTE = (
    "Whiskers: 95% interval of the difference (stationary bootstrap over whole UTC days, "
    "paired). Green: the interval lies above 0 (better); red: below 0 (worse); grey: it "
    "straddles 0 (no different)."
)


def classification_figures(
    frame: pd.DataFrame, rows: list[dict], majority: str, threshold: float
) -> list[Figure]:
    """Per-month differences and class mix (``monthly_table`` rows), then the predictions'
    own figures (``prediction_figures``)."""
    return [
        Figure(
            "plot_per_month_differences",
            "Model minus baselines, per month",
            draw.difference_bars(rows, majority),
            INTERVAL_NOTE,
        ),
        Figure("plot_class_mix", "Predicted class mix per month", draw.class_mix(rows)),
        *prediction_figures(frame, threshold),
    ]


def prediction_figures(frame: pd.DataFrame, threshold: float) -> list[Figure]:
    """Confusion (pooled and per fold), reliability, probability histograms and the threshold
    sweep of a predictions frame (``reports.diagnostics``: p_down, p_neutral, p_up, label,
    fold)."""
    confusions = diagnostics.confusions(frame)
    pooled = confusions.pop("all")
    return [
        Figure("plot_confusion", "Confusion matrix, all minutes", draw.confusion_pair(pooled)),
        Figure(
            "plot_confusion_per_fold", "Confusion matrix per fold", draw.fold_confusions(confusions)
        ),
        Figure(
            "plot_reliability",
            "Reliability of the probabilities",
            draw.reliability(diagnostics.reliability(frame)),
            "Points on the dashed line: a predicted probability of p comes true p of the time.",
        ),
        Figure(
            "plot_probability_histograms",
            "p_up and p_down against the threshold",
            draw.probability_histograms(diagnostics.histograms(frame), threshold),
        ),
        Figure(
            "plot_threshold_sweep",
            "Threshold sweep: signals and their precision",
            draw.threshold_sweep(diagnostics.threshold_sweep(frame), threshold),
            "A minute signals LONG when p_up is above the threshold (SHORT: p_down); the "
            "trades a backtest opens are at most the runs of signalling minutes.",
        ),
    ]


def equity_figure(equity: pd.Series, benchmark: pd.Series) -> Figure:
    return Figure(
        "plot_equity", "Equity and drawdown vs buy-and-hold", equity_curves(equity, benchmark)
    )


def training_figure(history: list[dict]) -> Figure:
    return Figure("plot_training_curves", "Training curves", training_curves(history))


def fold_training_figure(histories: dict[str, list[dict]]) -> Figure:
    return Figure(
        "plot_training_curves", "Training curves per fold", draw.fold_training_curves(histories)
    )


def drift_figure(zscores: pd.DataFrame) -> Figure:
    return Figure(
        "plot_drift",
        "Drift of the 15 feature channels",
        draw.drift_heatmap(zscores),
        "Each cell: (the month's mean - the first month's mean) / the first month's standard "
        "deviation. |z| above ~1 means the inputs moved far from what the first folds saw.",
    )

"""The walk-forward report: per-month bars with intervals, stitched equity vs. buy-and-hold,
drift across folds, and the verdict, as one self-contained HTML page."""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_pipeline.reports.html import STYLE, table
from resnet_pipeline.reports.plots import _png, data_uri, equity_curves

CHANNELS_SHOWN = ("log_return", "hl_range", "rsi_14", "atr_14", "volume_ratio")


def monthly_bars(rows: list[dict]) -> bytes:
    """Accuracy and AUC per month: the model with its 95% interval, baselines beside it."""
    months = [r["month"] for r in rows]
    x = np.arange(len(months))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric, short in ((axes[0], "accuracy", "accuracy"), (axes[1], "auc_roc_ovr", "auc")):
        model = np.array([r[f"model_{metric}"] or np.nan for r in rows], float)
        low = np.array([r[f"model_{short}_low"] or np.nan for r in rows], float)
        high = np.array([r[f"model_{short}_high"] or np.nan for r in rows], float)
        err = np.vstack([np.clip(model - low, 0, None), np.clip(high - model, 0, None)])
        ax.bar(x - 0.25, model, 0.25, yerr=np.nan_to_num(err), capsize=3, label="model")
        for offset, base in ((0.0, "majority"), (0.25, "logistic")):
            values = [r[f"{base}_{metric}"] or np.nan for r in rows]
            ax.bar(x + offset, values, 0.25, label=base)
        ax.set(title=f"{metric} per month (model: 95% interval)", xticks=x)
        ax.set_xticklabels(months, rotation=45)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return _png(fig)


def drift_plot(rows: list[dict], folds: list[dict]) -> bytes:
    """Class shares of each month's labels and the fold's training statistics per channel."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    months = [r["month"] for r in rows]
    shares = np.array([r["label_shares"] for r in rows], float).reshape(-1, 3)
    for k, name in enumerate(("Down", "Neutral", "Up")):
        left.plot(months, shares[:, k], marker="o", label=name)
    left.set(title="class shares of each predicted month")
    left.legend(fontsize=8)
    fold_months = [f["month"] for f in folds]
    for channel in CHANNELS_SHOWN:
        means = [f["normalizer_mean"].get(channel) for f in folds]
        right.plot(fold_months, means, marker="o", label=channel)
    right.set(title="training mean per channel, by fold")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    return _png(fig)


def _interval_rows(intervals: dict) -> list[dict]:
    return [
        {"quantity": name, **value}
        for name, value in intervals.items()
        if isinstance(value, dict) and "estimate" in value
    ]


def walk_forward_html(
    symbol: str,
    summary: dict,
    folds: list[dict],
    equity: pd.Series,
    benchmark: pd.Series,
    strategy_metrics: dict,
    benchmark_metrics: dict,
) -> str:
    verdict_css = "met" if summary["edge"] else "missed"
    monthly_cols = ["month", "samples"] + [
        f"{n}_{m}" for m in ("accuracy", "auc_roc_ovr") for n in ("model", "majority", "logistic")
    ]
    trading_rows = [
        {"metric": k, "strategy": strategy_metrics.get(k), "buy_and_hold": benchmark_metrics.get(k)}
        for k in ("total_return", "sharpe", "sortino", "max_drawdown", "calmar", "days")
    ] + [{"metric": "trades", "strategy": strategy_metrics.get("trades")}]
    fold_cols = [
        "month",
        "start",
        "train_samples",
        "val_samples",
        "predict_samples",
        "train_first",
        "train_last",
        "epochs_run",
        "wall_s",
    ]
    parts = [
        f"<h1>{html.escape(symbol)}: walk-forward out-of-sample report</h1>",
        f"<p>{summary['folds']} monthly folds, {summary['samples']} predicted minutes, "
        f"{html.escape(summary['period'][0])} to {html.escape(summary['period'][1])} (UTC).</p>",
        f'<p class="{verdict_css}">{html.escape(summary["verdict"])}</p>',
        '<div class="note"><ul>'
        f"<li>Each month is predicted by a model trained only on earlier data (label horizons "
        f"purged at the boundary), normalized with its own training statistics.</li>"
        f"<li>Intervals: {html.escape(summary['bootstrap'])}.</li>"
        "<li>Sharpe: daily returns, 365 days, rf 0, ddof 1; costs included.</li>"
        "<li>Probabilistic Sharpe ratio: P(true Sharpe &gt; 0) given skew and kurtosis.</li>"
        "</ul></div>",
        "<h2>Intervals (95%)</h2>",
        table(
            _interval_rows(summary["intervals"]["classification"])
            + _interval_rows(summary["intervals"]["trading"]),
            ["quantity", "estimate", "low", "high"],
        ),
        f"<p>Probabilistic Sharpe ratio: {summary['probabilistic_sharpe_ratio']}. Folds in which "
        f"the model beats each baseline: {html.escape(str(summary['folds_model_beats']))}.</p>",
        "<h2>Per month</h2>",
        table(summary["monthly"], monthly_cols),
        "<h2>Stitched backtest vs. buy-and-hold</h2>",
        table(trading_rows, ["metric", "strategy", "buy_and_hold"]),
        "<h2>Folds</h2>",
        table(folds, fold_cols),
    ]
    images = [
        ("metrics per month", monthly_bars(summary["monthly"])),
        ("equity of the stitched backtest", equity_curves(equity, benchmark)),
        ("drift across folds", drift_plot(summary["monthly"], folds)),
    ]
    for title, png in images:
        parts.append(f'<h2>{html.escape(title)}</h2><img alt="{title}" src="{data_uri(png)}">')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(symbol)} "
        f"walk-forward</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )

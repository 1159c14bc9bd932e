"""The diagnostics as pictures (PNG bytes), every axis labelled with its unit. The numbers
come from ``reports.diagnostics`` and ``ml.evaluation.stitched_metrics.monthly_table``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.number_format import short
from resnet_pipeline.reports.diagnostics import HISTOGRAM_BINS, recall_normalized
from resnet_pipeline.reports.plots import png
from resnet_pipeline.verdicts import BETTER, WORSE, compared

WORD_COLOURS = {BETTER: "#1b7f3b", WORSE: "#b3261e"}
NEUTRAL_COLOUR = "#7a7a7a"


def _month_axis(ax, months: list[str]) -> None:
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels(months, rotation=45, ha="right")
    ax.set_xlabel("predicted month (UTC)")


def difference_bars(rows: list[dict], majority: str = "the majority class") -> bytes:
    """Per month: model minus baseline with its 95% interval, bars from 0, coloured by the
    word the interval earns (green better, red worse, grey no different)."""
    months = [r["month"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    panels = (
        (axes[0], "model_minus_majority_accuracy", 100.0, f"accuracy minus {majority}", "points"),
        (axes[1], "model_minus_logistic_auc", 1.0, "AUC minus the logistic regression", "AUC"),
    )
    for ax, key, scale, title, unit in panels:
        values = np.array([_nan(r.get(key)) for r in rows]) * scale
        low = np.array([_nan(r.get(f"{key}_low")) for r in rows]) * scale
        high = np.array([_nan(r.get(f"{key}_high")) for r in rows]) * scale
        colours = [
            WORD_COLOURS.get(compared(r.get(f"{key}_low"), r.get(f"{key}_high")), NEUTRAL_COLOUR)
            for r in rows
        ]
        x = np.arange(len(months))
        ax.bar(x, np.nan_to_num(values), color=colours, alpha=0.75)
        errors = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
        ax.errorbar(x, values, yerr=np.nan_to_num(errors), fmt="none", ecolor="black", capsize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{title} (95% interval)")
        ax.set_ylabel(f"difference ({unit})")
        _month_axis(ax, months)
        ax.grid(alpha=0.3, axis="y")
    return png(fig)


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def class_mix(rows: list[dict]) -> bytes:
    """Per month: the share of minutes the model predicted as each class beside the share
    each class actually had."""
    months = [r["month"] for r in rows]
    predicted = np.array([r["predicted_shares"] for r in rows], float) * 100
    actual = np.array([r["label_shares"] for r in rows], float) * 100
    x = np.arange(len(months))
    fig, ax = plt.subplots(figsize=(11, 3.8))
    colours = ("#c0392b", "#95a5a6", "#27ae60")
    for offset, shares, label, hatch in (
        (-0.2, predicted, "predicted", ""),
        (0.2, actual, "actual", "//"),
    ):
        bottom = np.zeros(len(months))
        for k, name in enumerate(CLASS_NAMES):
            ax.bar(
                x + offset,
                shares[:, k],
                0.38,
                bottom=bottom,
                color=colours[k],
                hatch=hatch,
                edgecolor="white",
                label=f"{name} ({label})",
            )
            bottom += shares[:, k]
    ax.set_ylabel("share of the month's minutes (%)")
    ax.set_title("predicted class mix (left bar) and actual labels (right bar, hatched) per month")
    _month_axis(ax, months)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return png(fig)


def _matrix(ax, values: np.ndarray, text: np.ndarray, title: str) -> None:
    ax.imshow(values, cmap="Blues", vmin=0, vmax=max(float(values.max()), 1e-12))
    for (i, j), label in np.ndenumerate(text):
        dark = values[i, j] > 0.6 * values.max()
        ax.text(
            j, i, label, ha="center", va="center", fontsize=8, color="white" if dark else "black"
        )
    ax.set(xticks=range(3), yticks=range(3), title=title)
    ax.set_xticklabels(CLASS_NAMES)
    ax.set_yticklabels(CLASS_NAMES)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")


def confusion_pair(counts: np.ndarray, what: str = "all predicted minutes") -> bytes:
    """The pooled confusion matrix: counts (minutes) and recall-normalised (rows sum to 1)."""
    counts = np.asarray(counts)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    _matrix(
        left,
        counts.astype(float),
        np.vectorize(lambda v: f"{v:,}")(counts),
        f"counts (minutes), {what}",
    )
    shares = recall_normalized(counts)
    _matrix(
        right, shares, np.vectorize(lambda v: f"{v:.2f}")(shares), "recall-normalised (row shares)"
    )
    fig.tight_layout()
    return png(fig)


def _fold_panels(folds: list[str], panel_height: float):
    """A grid of one panel per fold (at most 4 across), spare panels hidden: the figure, the
    (axis, fold) pairs to draw, and the grid of axes."""
    columns = min(4, max(1, len(folds)))
    lines = math.ceil(len(folds) / columns)
    fig, axes = plt.subplots(
        lines, columns, figsize=(3.1 * columns, panel_height * lines), squeeze=False
    )
    for ax in axes.ravel()[len(folds) :]:
        ax.axis("off")
    return fig, list(zip(axes.ravel(), folds, strict=False)), axes


def _one_y_label_per_row(grid: np.ndarray) -> None:
    for ax in grid[:, 1:].ravel():
        ax.set_ylabel("")


def fold_confusions(per_fold: dict[str, np.ndarray]) -> bytes:
    """Each fold's confusion matrix, recall-normalised, with the counts beneath."""
    fig, panels, grid = _fold_panels(sorted(per_fold), 3.0)
    for ax, fold in panels:
        counts = np.asarray(per_fold[fold])
        shares = recall_normalized(counts)
        text = np.vectorize(lambda s, c: f"{s:.2f}\n({c:,})")(shares, counts)
        _matrix(ax, shares, text, f"fold {fold}")
    _one_y_label_per_row(grid)
    fig.suptitle("confusion per fold: row shares (counts in minutes)")
    fig.subplots_adjust(hspace=0.45, wspace=0.45)  # fixed spacing: tight_layout costs ~0.5 s
    return png(fig)


def reliability(curves: dict[str, tuple[list[float], list[float]]]) -> bytes:
    """Per class, observed frequency against mean predicted probability (quantile bins)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, (predicted, observed) in curves.items():
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency of the class")
    ax.set_title("reliability (10 quantile bins per class)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return png(fig)


def probability_histograms(counts: dict[str, np.ndarray], threshold: float) -> bytes:
    """How often the model reached each p_up / p_down, with the strategy's threshold."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    width = np.diff(HISTOGRAM_BINS)
    for ax, name, colour in ((axes[0], "p_up", "#27ae60"), (axes[1], "p_down", "#c0392b")):
        values = np.asarray(counts[name])
        ax.bar(HISTOGRAM_BINS[:-1], values, width, align="edge", color=colour, alpha=0.8)
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {short(threshold)}")
        above = int(values[HISTOGRAM_BINS[:-1] >= threshold].sum())
        ax.set_title(f"{name}: {above:,} minutes from the threshold up", fontsize=10)
        ax.set_xlabel(f"{name} (model probability)")
        ax.set_yscale("symlog", linthresh=1)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("minutes (log scale)")
    return png(fig)


def threshold_sweep(sweep: pd.DataFrame, threshold: float) -> bytes:
    """Signals (minutes above the threshold) and their precision, threshold by threshold."""
    fig, (count_ax, precision_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for side, colour in (("long", "#27ae60"), ("short", "#c0392b")):
        count_ax.plot(
            sweep["threshold"], sweep[f"{side}_minutes"], marker="o", color=colour, label=side
        )
        precision = pd.to_numeric(sweep[f"{side}_precision"], errors="coerce") * 100
        precision_ax.plot(sweep["threshold"], precision, marker="o", color=colour, label=side)
    count_ax.set_yscale("symlog", linthresh=1)
    count_ax.set(
        xlabel="threshold on p_up (long) / p_down (short)", ylabel="minutes signalled (log scale)"
    )
    count_ax.set_title("signals against the threshold")
    precision_ax.set(xlabel="threshold", ylabel="precision of the signals (%)")
    precision_ax.set_title("share of signals whose label agrees")
    for ax in (count_ax, precision_ax):
        ax.axvline(threshold, color="black", linestyle="--", label=f"used: {short(threshold)}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return png(fig)


def fold_training_curves(histories: dict[str, list[dict]]) -> bytes:
    """Each fold's train and validation loss by epoch (one small panel per fold)."""
    folds = sorted(histories)
    fig, panels, grid = _fold_panels(folds, 2.6)
    for ax, fold in panels:
        history = histories[fold]
        if not history:
            ax.text(0.5, 0.5, "no curve stored\n(re-run wf_model)", ha="center", va="center")
            ax.set_title(f"fold {fold}")
            continue
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [r["train_loss"] for r in history], marker=".", label="train")
        ax.plot(epochs, [r["val_loss"] for r in history], marker=".", label="validation")
        ax.set(title=f"fold {fold}", xlabel="epoch", ylabel="loss (cross-entropy)")
        ax.grid(alpha=0.3)
        if fold == next(f for f in folds if histories[f]):
            ax.legend(fontsize=7)
    _one_y_label_per_row(grid)
    fig.subplots_adjust(hspace=0.6, wspace=0.45)
    return png(fig)


def _z(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.2f}".replace("-0.00", "0.00")


def drift_heatmap(zscores: pd.DataFrame) -> bytes:
    """Each channel's monthly mean as a z-score against the first month (all channels)."""
    values = zscores.to_numpy(np.float64)
    limit = max(1.0, float(np.nanmax(np.abs(values))) if values.size else 1.0)
    fig, ax = plt.subplots(figsize=(max(6, 0.75 * zscores.shape[1] + 3), 0.38 * len(zscores) + 1.6))
    image = ax.imshow(values, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(
            j,
            i,
            "n/a" if np.isnan(value) else f"{value + 0.0:.2f}".replace("-0.00", "0.00"),
            ha="center",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(range(len(zscores)))
    ax.set_yticklabels(zscores.index)
    _month_axis(ax, list(zscores.columns))
    ax.set_ylabel("feature channel")
    ax.set_title("drift: monthly mean of each channel, z-score against the first month")
    fig.colorbar(image, ax=ax, label="z-score (first month's std)")
    return png(fig)


def interval_bars(
    names: list[str],
    intervals: list[dict],
    title: str,
    unit: str,
    missing: Sequence[str] = (),
) -> bytes:
    """One horizontal bar per name from 0 to its estimate, with its 95% interval, coloured by
    the word the interval earns against 0 (green above, red below, grey straddling); a name
    without an estimate gets its ``missing`` text (e.g. "0 trades") where its bar would be,
    never a blank row."""
    values = np.array([_nan(i.get("estimate")) for i in intervals])
    low = np.array([_nan(i.get("low")) for i in intervals])
    high = np.array([_nan(i.get("high")) for i in intervals])
    colours = [
        WORD_COLOURS.get(compared(i.get("low"), i.get("high")), NEUTRAL_COLOUR) for i in intervals
    ]
    y = np.arange(len(names))[::-1]  # the first name on top
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.45 * len(names)))
    ax.barh(y, np.nan_to_num(values), color=colours, alpha=0.75)
    errors = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
    ax.errorbar(values, y, xerr=np.nan_to_num(errors), fmt="none", ecolor="black", capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    for k, value in enumerate(values):
        if np.isnan(value):
            text = missing[k] if k < len(missing) else "no estimate"
            ax.text(0, y[k], f"  {text}", va="center", ha="left", color=NEUTRAL_COLOUR)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlabel(unit)
    ax.set_title(f"{title} (95% interval)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return png(fig)

"""Plots as PNG bytes (matplotlib, no display), and their embedding in Markdown/HTML."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_markdown(png: bytes, alt: str = "plot") -> str:
    """A picture the Dagster UI shows in asset metadata (MetadataValue.md)."""
    return f"![{alt}]({data_uri(png)})"


def training_curves(history: list[dict]) -> bytes:
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    loss_ax.set(title="loss", xlabel="epoch", ylabel="loss (cross-entropy)")
    acc_ax.plot(epochs, [r["train_acc"] for r in history], marker="o", label="train")
    acc_ax.plot(epochs, [r["val_acc"] for r in history], marker="o", label="validation")
    acc_ax.set(title="accuracy", xlabel="epoch", ylabel="accuracy (share of samples)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return png(fig)


MAX_POINTS = 2000  # a curve wider than the picture's pixels only costs time to draw


def _thinned(series: pd.Series, how: str) -> pd.Series:
    """At most ``MAX_POINTS`` points: each run of consecutive values reduced to its ``how``
    ('last' for a level, 'min' for a drawdown, so no trough disappears)."""
    if len(series) <= MAX_POINTS:
        return series
    step = -(-len(series) // MAX_POINTS)
    runs = series.reset_index(drop=True).groupby(np.arange(len(series)) // step)
    return pd.Series(runs.agg(how).to_numpy(), index=series.index[::step])


def equity_curves(equity: pd.Series, benchmark: pd.Series) -> bytes:
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    for series, name in ((equity, "strategy"), (benchmark, "buy and hold")):
        level = _thinned(series / series.iloc[0], "last")
        top.plot(level.index, level.to_numpy(), label=name)
        drawdown = _thinned((series / series.cummax() - 1) * 100, "min")
        bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0, alpha=0.4, label=name)
    top.set(title="equity after costs", ylabel="equity (start = 1)")
    top.legend(loc="upper left")
    bottom.set(title="drawdown", ylabel="drawdown (%)", xlabel="time (UTC)")
    bottom.legend(loc="lower left")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return png(fig)

"""A report's key figure small enough for the Dagster UI to show without a click: the equity
curve beside buy-and-hold as an inline SVG in Markdown (the full-size plots are PNGs far over
the UI's inline limit, ``metadata.INLINE_MARKDOWN``)."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd

from resnet_pipeline.defs.metadata import INLINE_MARKDOWN
from resnet_pipeline.number_format import percent

WIDTH, HEIGHT, POINTS = 240, 48, 36
STRATEGY, BENCHMARK = "#1f77b4", "#999999"


def _points(values: np.ndarray, low: float, high: float) -> str:
    """``POINTS`` evenly spaced samples as 'x,y' pairs in the picture's integer pixels."""
    picks = values[np.linspace(0, len(values) - 1, min(POINTS, len(values))).round().astype(int)]
    span = (high - low) or 1.0
    xs = np.linspace(0, WIDTH, len(picks)).round().astype(int)
    ys = (HEIGHT - 2 - (picks - low) / span * (HEIGHT - 4)).round().astype(int)
    return ",".join(f"{x},{y}" for x, y in zip(xs, ys, strict=True))


def equity_markdown(equity: pd.Series, benchmark: pd.Series, title: str = "equity") -> str | None:
    """The two curves on one scale, then one line of what they end at; None when there is no
    curve to draw."""
    curves = [np.asarray(c, dtype=float) for c in (equity, benchmark)]
    curves = [c[np.isfinite(c)] for c in curves]
    if any(len(c) < 2 for c in curves):
        return None
    low = min(float(c.min()) for c in curves)
    high = max(float(c.max()) for c in curves)
    lines = "".join(
        f"<polyline points='{_points(c, low, high)}' fill='none' stroke='{colour}' "
        "stroke-width='1.5'/>"
        for c, colour in ((curves[1], BENCHMARK), (curves[0], STRATEGY))
    )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0,0,{WIDTH},{HEIGHT}'>{lines}</svg>"
    )
    uri = "data:image/svg+xml," + quote(svg, safe="',=/:.")
    change = [percent(c[-1] / c[0] - 1) for c in curves]
    text = (
        f"![{title}: strategy (blue) and buy-and-hold (grey)]({uri})\n\n"
        f"strategy (blue) {change[0]}, buy-and-hold (grey) {change[1]}"
    )
    return text if len(text) < INLINE_MARKDOWN else None

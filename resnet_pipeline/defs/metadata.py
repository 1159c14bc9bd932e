"""What every definitions module shares: group names, owners and metadata helpers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from resnet_pipeline.number_format import short

INGESTION = "ingestion"
FEATURES = "features"
MODELING = "modeling"
EVALUATION = "evaluation"
WALK_FORWARD = "walk_forward"
EXPERIMENTS = "experiments"
OWNERS = ["team:resnet-pipeline"]


def plain(value: Any) -> Any:
    """Metadata must be plain Python: numpy scalars, Timestamps and NaN are converted."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def markdown_table(df: pd.DataFrame) -> str:
    """A small DataFrame as a Markdown table (the UI renders it)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [short(v, 6) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readable(rows: list[dict]) -> str:
    """Rows as a Markdown table for the UI: the verdict in words, never blank."""
    return markdown_table(pd.DataFrame([{k: v for k, v in r.items() if k != "met"} for r in rows]))

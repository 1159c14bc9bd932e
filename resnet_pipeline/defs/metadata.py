"""What every definitions module shares: group names, owners and the metadata a person reads
in the Dagster UI.

What Dagster 1.13's UI does with an asset's latest materialization (dagster-ui
``AssetEventMetadataEntriesTable`` and ``MetadataEntry``): entries are listed in the order
emitted; Markdown shorter than ``INLINE_MARKDOWN`` characters and every table render inline, a
longer Markdown hides behind "[Show Markdown]"; a URL renders as a link, a path as text to
copy; every int and float entry is drawn on the Plots tab across partitions and events. So an
asset whose partitions are not a time axis (a symbol, an experiment, a trial) gives its
figures as text (``as_text``) and only a month's figures become a series (``as_series``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from resnet_pipeline.number_format import MISSING, metric, number, p_value, rounded, short

INGESTION = "ingestion"
FEATURES = "features"
MODELING = "modeling"
EVALUATION = "evaluation"
WALK_FORWARD = "walk_forward"
EXPERIMENTS = "experiments"
OWNERS = ["team:resnet-pipeline"]

INLINE_MARKDOWN = 1000  # dagster-ui MetadataEntry.tsx: shorter Markdown shows without a click


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


def _is_p_value(key: str) -> bool:
    return key.startswith("spa_p") or key.endswith("p_value")


def figure(key: str, value: Any, resolution: float = 0.001, currency: str = "") -> str:
    """One figure as text in the unit its name carries (``number_format.metric``: shares as
    percentages, differences of shares in points, amounts in ``currency``), p-values below
    the test's ``resolution`` as '< 0.001', the rest to 4 significant digits."""
    value = plain(value)
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return number(value)
    if _is_p_value(key):
        return p_value(value, resolution)
    return metric(key, value, currency)


def when(value: Any) -> str:
    """A moment as a person reads it: '2024-01-31 23:59 UTC'."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def _readable(key: str, value: Any, resolution: float, currency: str = "") -> Any:
    if isinstance(value, dg.MetadataValue | bool):
        return value
    if isinstance(value, pd.Timestamp | datetime):
        return when(value)
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, int | float):
        return figure(key, value, resolution, currency)
    if isinstance(value, Mapping | list | tuple):
        return number(value)
    return value


def as_text(
    entries: Mapping[str, Any], resolution: float = 0.001, currency: str = ""
) -> dict[str, Any]:
    """Metadata of an asset whose partitions are not a time axis: every figure as text (the
    Plots tab would join one symbol's or trial's value to another's), mappings as 'k: v'
    text, missing values left out (the headline or a reason says why)."""
    shown = {k: _readable(k, v, resolution, currency) for k, v in entries.items()}
    return {k: v for k, v in shown.items() if v is not None}


def as_series(entries: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata of a month's partition: figures stay numbers (a series over months on the
    Plots tab), floats to 4 significant digits; everything else as ``as_text``."""
    out = {}
    for key, value in entries.items():
        value = value if isinstance(value, dg.MetadataValue) else plain(value)
        if isinstance(value, float):
            value = rounded(value)
        elif not isinstance(value, int | dg.MetadataValue):
            value = _readable(key, value, 0.001)
        if value is not None:
            out[key] = value
    return out


def link(path: Any) -> dg.MetadataValue:
    """A file for a person to open: a local file as a file:// link (the UI renders a URL as a
    link, a path only as text to copy), a file in an object store as its path."""
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        return dg.MetadataValue.path(text)
    return dg.MetadataValue.url(Path(text.removeprefix("file://")).resolve().as_uri())


def bullets(rows: Sequence[Mapping[str, Any]], lead: str, resolution: float = 0.001) -> str:
    """Rows as a Markdown list, one line per row led by its ``lead`` value: it wraps in the
    UI's narrow value column, where a table's width would push the headline out of view."""
    lines = []
    for row in rows:
        rest = ", ".join(
            f"{k} {number(v) if isinstance(v, bool) else _readable(k, v, resolution)}"
            for k, v in row.items()
            if k != lead and v is not None and plain(v) is not None
        )
        lines.append(f"- **{row[lead]}**: {rest}")
    return "\n".join(lines)


def settings_list(nested: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Nested settings as 'section.key: value' lines (never a dict's braces)."""
    lines = []
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += settings_list(value, f"{name}.")
        else:
            lines.append(f"{name}: {number(plain(value))}")
    return lines


def markdown_table(df: pd.DataFrame) -> str:
    """A small DataFrame as a Markdown table (the UI renders it)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [short(v, 4) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def without_met(row: Mapping[str, Any]) -> dict[str, Any]:
    """A verdict row without its ``met`` flag: the verdict says it in words."""
    return {k: v for k, v in row.items() if k != "met"}


def readable(rows: list[dict]) -> str:
    """Rows as a Markdown table for the UI: the verdict in words, never blank."""
    return markdown_table(pd.DataFrame([without_met(r) for r in rows]))

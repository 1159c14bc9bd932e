"""A few hours of the synthetic market per month, stored the way the pipeline stores them.

Candles come from the real synthetic source, features and labels from the real
``compute_features`` (with the preceding candles as warm-up history) / ``compute_labels``;
each month holds only its first ``hours`` hours, so a fold trains and predicts in seconds
(the gap between months is excluded like any outage).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.labels import compute_labels
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.storage import write_parquet_atomic


def month_frames(
    symbol: str, month: date, hours: float = 6
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(candles, features, labels) of the first ``hours`` hours of ``month``."""
    source = SyntheticSource()
    start = pd.Timestamp(month, tz="UTC")
    candles = source.fetch(symbol, start, start + pd.Timedelta(hours=hours))
    history = source.fetch(symbol, start - pd.Timedelta(hours=8), start)
    return candles, compute_features(candles, history), compute_labels(candles)


def frames(symbol: str, months: list[date], hours: float = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and labels of several months, concatenated in time order."""
    parts = [month_frames(symbol, m, hours) for m in months]
    features = pd.concat([p[1] for p in parts], ignore_index=True)
    labels = pd.concat([p[2] for p in parts], ignore_index=True)
    return features, labels


def store_months(root, symbol: str, months: list[date], hours: float = 6) -> None:
    """Write raw_candles, features and labels partitions under ``root`` (the real layout)."""
    for month in months:
        for asset, frame in zip(
            ("raw_candles", "features", "labels"), month_frames(symbol, month, hours), strict=True
        ):
            write_parquet_atomic(frame, Layout.at(root).partition(asset, symbol, month))

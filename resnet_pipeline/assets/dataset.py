"""`dataset_splits` (symbol): a range of months of features + labels -> leak-free splits."""

from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.assets.common import MODELING, OWNERS, SYMBOL, markdown_table, plain
from resnet_pipeline.ml.dataset import SplitConfig, build_splits
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_partitions, stored_months

_BY_SYMBOL = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="symbol")


class DatasetConfig(dg.Config):
    start_month: str | None = Field(
        default=None, description="first month 'YYYY-MM' (default: 12 months before end)"
    )
    end_month: str | None = Field(
        default=None, description="last month 'YYYY-MM' (default: the newest with features)"
    )
    window: int = Field(default=256, description="rows per sample window")
    train_ratio: float = 0.70
    val_ratio: float = 0.15
    test_ratio: float = 0.15
    purge_minutes: int | None = Field(
        default=None, description="purge before each split boundary (default: label horizon)"
    )
    max_gap_minutes: float = Field(
        default=5.0, description="exclude windows spanning a longer gap between candles"
    )
    price_norm: str = Field(
        default="window_relative", description="window_relative (default) | zscore (the seed)"
    )


def _month(text: str, field: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError as error:
        raise dg.Failure(f"{field}={text!r} is not a month: use 'YYYY-MM'") from error


def select_months(available: list[date], start: str | None, end: str | None) -> list[date]:
    """The configured range, or the last 12 months that have data."""
    if not available:
        return []
    last = _month(end, "end_month") if end else available[-1]
    first = _month(start, "start_month") if start else None
    chosen = [m for m in available if m <= last and (first is None or m >= first)]
    return chosen if first else chosen[-12:]


@dg.asset(
    partitions_def=SYMBOL,
    group_name=MODELING,
    kinds={"duckdb", "numpy"},
    owners=OWNERS,
    code_version="1",
    description="Chronological train/val/test samples (70/15/15, purged at each boundary) over "
    "a range of months, one normalized [rows, 15] float32 matrix with train-fitted statistics; "
    "windows are views, never copies. Read with DuckDB from the features/labels Parquet files.",
    deps=[
        dg.AssetDep("features", partition_mapping=_BY_SYMBOL),
        dg.AssetDep("labels", partition_mapping=_BY_SYMBOL),
    ],
)
def dataset_splits(
    context: dg.AssetExecutionContext, config: DatasetConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    months = select_months(
        stored_months(store.path, "features", symbol), config.start_month, config.end_month
    )
    if not months:
        raise dg.Failure(
            f"no stored features for {symbol} in the selected range. Materialize the ingestion "
            "side first, e.g. dagster asset materialize -m resnet_pipeline.definitions --select "
            f"raw_candles,features,labels --partition '2024-01-01|{symbol}' (one run per month)."
        )
    features = read_partitions(store.path, "features", symbol, months)
    labels = read_partitions(store.path, "labels", symbol, months)
    if labels.empty:
        raise dg.Failure(f"no stored labels for {symbol} in {months[0]:%Y-%m}..{months[-1]:%Y-%m}")
    try:
        split_config = SplitConfig(**config.model_dump(exclude={"start_month", "end_month"}))
    except ValueError as error:
        raise dg.Failure(f"invalid dataset config: {error}") from error
    try:
        splits = build_splits(features, labels, split_config)
    except ValueError as error:
        raise dg.Failure(f"{symbol} {months[0]:%Y-%m}..{months[-1]:%Y-%m}: {error}") from error
    splits.lineage = {"symbol": symbol, "months": [f"{m:%Y-%m}" for m in months]}
    path = splits.save(str(store.path / "datasets" / symbol))
    summary = splits.summary()
    table = [{"split": name, **values} for name, values in summary.items()]
    return dg.MaterializeResult(
        metadata={
            "months": f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}",
            "rows": len(splits.matrix),
            **{f"{name}_samples": summary[name]["samples"] for name in summary},
            "purged": plain(splits.stats.purged),
            "gap_excluded": splits.stats.gap_excluded,
            "warmup_excluded": splits.stats.warmup_excluded,
            "price_norm": config.price_norm,
            "splits": dg.MetadataValue.md(markdown_table(pd.DataFrame(table))),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


defs = dg.Definitions(assets=[dataset_splits])

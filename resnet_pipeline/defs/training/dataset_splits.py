"""`dataset_splits` (symbol): a range of months of features + labels -> leak-free splits.

The channels are the stored features, or those the config selects (``FeatureConfig``, the
``features`` section of an experiment file): then computed from the stored raw candles as an
experiment's fold computes them (``fold_inputs.read_variant_channels``), so a variant found in
an experiment runs as the main model; ``trained_model`` takes its input width from the splits.
"""

from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.artifacts import exists, file_sha256
from resnet_pipeline.commands import ingest_month
from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.defs.metadata import MODELING, OWNERS, as_text, markdown_table
from resnet_pipeline.experiments.fold_inputs import FoldInputError, read_variant_channels
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.data.dataset import build_splits
from resnet_pipeline.ml.data.lineage import FEATURES_KEY
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_partitions, stored_months

_BY_SYMBOL = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="symbol")
DEFAULT_MONTHS = 12
_SPLIT = SplitConfig()
_SPLIT_RATIOS = (_SPLIT.train_ratio, _SPLIT.val_ratio, _SPLIT.test_ratio)


class DatasetMonths(dg.Config):
    start_month: str | None = Field(
        default=None,
        description=f"first month 'YYYY-MM' (default: the last {DEFAULT_MONTHS} stored months "
        "up to end_month)",
    )
    end_month: str | None = Field(
        default=None, description="last month 'YYYY-MM' (default: the newest with features)"
    )


DatasetConfig = dagster_config(
    "DatasetConfig",
    __name__,
    "The months to read, every field of the split (SplitConfig) and the channels "
    "(FeatureConfig), flat; the label horizon comes from the labels.",
    SplitConfig,
    FeatureConfig,
    base=DatasetMonths,
)


def _month(text: str, field: str) -> date:
    try:
        return date.fromisoformat(f"{text.strip()}-01")
    except ValueError as error:
        raise dg.Failure(f"{field}={text!r} is not a month: use 'YYYY-MM', e.g. 2024-01") from error


def select_months(available: list[date], start: str | None, end: str | None) -> list[date]:
    """The stored months in [start, end]; without ``start``, the last 12 of them up to end."""
    last = _month(end, "end_month") if end else None
    first = _month(start, "start_month") if start else None
    if first and last and first > last:
        raise dg.Failure(f"start_month={start} is after end_month={end}")
    chosen = [m for m in available if (last is None or m <= last) and (first is None or m >= first)]
    return chosen if first else chosen[-DEFAULT_MONTHS:]


def _ingest_hint(symbol: str, month: date) -> str:
    return f"{ingest_month(symbol, month)} (one run per month)"


def _content_hashes(store: DataStore, symbol: str, months: list[date]) -> dict[str, dict]:
    """month -> sha256 of its features and labels files (None: no labels file)."""
    hashes = {}
    for month in months:
        files = {a: store.layout.partition(a, symbol, month) for a in ("features", "labels")}
        hashes[f"{month:%Y-%m}"] = {
            asset: file_sha256(path) if exists(path) else None for asset, path in files.items()
        }
    return hashes


def _variant_features(
    store: DataStore, symbol: str, months: list[date], features: FeatureConfig, hashes: dict
) -> pd.DataFrame:
    """The selected channels computed from raw candles; their files' digests join ``hashes``."""
    try:
        features.selection(symbol)
        frame, digests = read_variant_channels(store.layout, symbol, months, features)
    except (FoldInputError, ValueError) as error:
        raise dg.Failure(f"channels={list(features.channels)}: {error}") from error
    for key, digest in digests.items():
        asset, month = key.split("/")
        hashes.setdefault(month, {})[asset] = digest
    return frame


def _load(
    store: DataStore, symbol: str, config: DatasetConfig, features: FeatureConfig
) -> tuple[list[date], pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    available = stored_months(store.layout, "features", symbol)
    months = select_months(available, config.start_month, config.end_month)
    wanted = f"{config.start_month or '...'}..{config.end_month or '...'}"
    if not months:
        have = f"{available[0]:%Y-%m}..{available[-1]:%Y-%m}" if available else "none"
        example = _month(config.start_month or config.end_month or "2024-01", "month")
        raise dg.Failure(
            f"no stored features for {symbol} in {wanted} (stored months: {have}). "
            f"Materialize them first, e.g. {_ingest_hint(symbol, example)}"
        )
    hashes = _content_hashes(store, symbol, months)
    before = {month: dict(files) for month, files in hashes.items()}
    if features.stored:
        rows = read_partitions(store.layout, "features", symbol, months)
    else:
        rows = _variant_features(store, symbol, months, features, hashes)
    labels = read_partitions(store.layout, "labels", symbol, months)
    if _content_hashes(store, symbol, months) != before:
        raise dg.Failure(
            f"features/labels of {symbol} changed while dataset_splits read them (another run "
            "is writing them): materialize dataset_splits again once that run has finished"
        )
    if labels.empty:
        raise dg.Failure(
            f"no stored labels for {symbol} in {months[0]:%Y-%m}..{months[-1]:%Y-%m}. "
            f"Materialize them first, e.g. {_ingest_hint(symbol, months[-1])}"
        )
    return months, rows, labels, hashes


def dataset_splits(
    context: dg.AssetExecutionContext, config: DatasetConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        split_config = part_of(SplitConfig, config, forward_window=LabelConfig().forward_window)
        selected = part_of(FeatureConfig, config)
    except ValueError as error:
        raise dg.Failure(f"invalid dataset config: {error}") from error
    months, features, labels, hashes = _load(store, symbol, config, selected)
    span = f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}"
    try:
        splits = build_splits(features, labels, split_config, selected.channels)
    except ValueError as error:
        raise dg.Failure(f"{symbol} {span}: {error}") from error
    del features, labels
    splits.lineage = {
        "symbol": symbol,
        "months": [f"{m:%Y-%m}" for m in months],
        "partitions": hashes,
        "code_version": context.assets_def.code_versions_by_key[context.asset_key],
        "dataset": store.layout.relative(store.layout.dataset(symbol)),
        FEATURES_KEY: {"channels": list(selected.channels), "cross_symbol": selected.cross_symbol},
    }
    path = splits.save(store.layout.dataset(symbol))
    fingerprint = splits.fingerprint
    summary = splits.summary()
    stats = splits.stats
    norm = splits.normalizer
    context.log.info(
        f"{symbol} {span}: {stats.eligible} samples of {stats.rows} rows -> "
        + ", ".join(f"{name} {values['samples']}" for name, values in summary.items())
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(fingerprint),  # the UI marks models on other data stale
        metadata=as_text(
            {
                "months": span,
                "fingerprint": fingerprint,
                "rows": stats.rows,
                **{f"{name}_samples": summary[name]["samples"] for name in summary},
                **{f"{name}_range": f"{v['first']} .. {v['last']}" for name, v in summary.items()},
                "purged": {k: f"{v} min" for k, v in stats.purged.items()},
                "warmup_excluded": stats.warmup_excluded,
                "gap_excluded": stats.gap_excluded,
                "nonfinite_excluded": stats.nonfinite_excluded,
                "price_norm": split_config.price_norm,
                "splits": dg.MetadataValue.md(
                    markdown_table(pd.DataFrame([{"split": k, **v} for k, v in summary.items()]))
                ),
                "normalization": dg.MetadataValue.md(
                    markdown_table(
                        pd.DataFrame(
                            {"channel": norm.channel_names, "mean": norm.mean, "std": norm.std}
                        )
                    )
                ),
                "path": dg.MetadataValue.path(str(path)),
            }
        ),
    )


def build(partitions: Partitions) -> dg.Definitions:
    """dataset_splits on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol,
        group_name=MODELING,
        kinds={"duckdb", "numpy"},
        owners=OWNERS,
        code_version="3",
        description="Chronological train/val/test samples ("
        + "/".join(f"{r * 100:g}" for r in _SPLIT_RATIOS)
        + f", purged at each boundary) over a range of months, one normalized "
        f"[rows, {len(FEATURE_CHANNELS)}] float32 matrix with train-fitted statistics; windows "
        "are views, never copies. Read with DuckDB from the features/labels Parquet files.",
        deps=[
            dg.AssetDep("features", partition_mapping=_BY_SYMBOL),
            dg.AssetDep("labels", partition_mapping=_BY_SYMBOL),
        ],
    )(dataset_splits)
    return dg.Definitions(assets=[asset])

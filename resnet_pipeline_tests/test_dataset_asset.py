"""`dataset_splits` through Dagster, reading features/labels Parquet files from a data root."""

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.defs.training.dataset_splits import select_months
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import write_parquet_atomic
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._figures import value_of
from resnet_pipeline_tests._pipeline import asset

dataset_splits = asset("dataset_splits")

MONTHS = {date(2024, 1, 1): 0, date(2024, 2, 1): 1, date(2024, 3, 1): 2}


def _write(root, months=MONTHS, labels=True):
    frames = {}
    for month, seed in months.items():
        # later months were computed with the previous month as warm-up history: no warm-up
        warmup = 30 if month == min(months) else 0
        features, label_frame = feature_frames(2500, seed=seed, start=str(month), warmup=warmup)
        write_parquet_atomic(features, Layout.at(root).partition("features", "BTCUSDT", month))
        if labels:
            write_parquet_atomic(label_frame, Layout.at(root).partition("labels", "BTCUSDT", month))
        frames[month] = (features, label_frame)
    return frames


def _run(root, config=None):
    return dg.materialize(
        [dataset_splits],
        partition_key="BTCUSDT",
        resources={"store": DataStore(root=str(root)), "venue": TradingVenue()},
        run_config={"ops": {"dataset_splits": {"config": {"window": 64, **(config or {})}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _metadata(result):
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _failure(result) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


def test_materializes_the_stored_months_into_a_dataset(tmp_path):
    frames = _write(tmp_path)
    result = _run(tmp_path, {"start_month": "2024-01", "end_month": "2024-02"})
    assert result.success
    meta = _metadata(result)
    assert meta["months"] == "2024-01..2024-02" and meta["rows"] == "5,000"
    assert meta["purged"] == "train: 12 min, val: 12 min"
    assert meta["gap_excluded"] == "63"  # windows across the jump from 2 Jan to 1 Feb
    assert meta["warmup_excluded"] == "30"
    samples = {name: value_of(meta[f"{name}_samples"]) for name in ("train", "val", "test")}
    assert samples["train"] > samples["val"] > 0 and samples["test"] > 0
    assert meta["val_range"].startswith("2024-02-01") and "share_up" in meta["splits"]
    stored = DatasetSplits.load(meta["path"])
    assert stored.lineage["symbol"] == "BTCUSDT"
    assert stored.lineage["months"] == ["2024-01", "2024-02"]
    assert stored.lineage["dataset"] == "datasets/BTCUSDT"  # relative to the data root
    assert stored.lineage["dataset_fingerprint"] == stored.fingerprint == meta["fingerprint"]
    features = pd.concat([frames[m][0] for m in list(MONTHS)[:2]], ignore_index=True)
    labels = pd.concat([frames[m][1] for m in list(MONTHS)[:2]], ignore_index=True)
    direct = build_splits(features, labels, SplitConfig(window=64))
    np.testing.assert_array_equal(stored.train_ends, direct.train_ends)
    np.testing.assert_array_equal(stored.test_ends, direct.test_ends)
    np.testing.assert_array_equal(stored.matrix, direct.matrix)
    assert meta["path"] == str(tmp_path / "datasets" / "BTCUSDT")


def test_config_fields_reach_the_split(tmp_path):
    _write(tmp_path)
    result = _run(
        tmp_path,
        {
            "end_month": "2024-01",
            "train_ratio": 0.5,
            "val_ratio": 0.25,
            "test_ratio": 0.25,
            "purge_minutes": 30,
            "price_norm": "zscore",
            "max_gap_minutes": 60,
        },
    )
    assert result.success
    meta = _metadata(result)
    assert meta["months"] == "2024-01..2024-01" and meta["purged"] == "train: 30 min, val: 30 min"
    stored = DatasetSplits.load(meta["path"])
    assert stored.config == SplitConfig(
        window=64,
        train_ratio=0.5,
        val_ratio=0.25,
        test_ratio=0.25,
        purge_minutes=30,
        price_norm="zscore",
        max_gap_minutes=60,
    )
    assert stored.normalizer.price_norm == "zscore"


def test_default_range_is_the_last_twelve_stored_months():
    stored = [date(2023, m, 1) for m in range(1, 13)] + [date(2024, 1, 1), date(2024, 3, 1)]
    assert select_months(stored, None, None) == stored[-12:]
    assert select_months(stored, None, "2023-12") == stored[:12]
    assert select_months(stored, "2023-11", None) == stored[10:]
    assert select_months(stored, "2024-02", "2024-03") == [date(2024, 3, 1)]
    with pytest.raises(dg.Failure, match="after end_month"):
        select_months(stored, "2024-03", "2024-01")
    with pytest.raises(dg.Failure, match="not a month"):
        select_months(stored, "2024-3", None)


def test_missing_upstream_names_the_command_to_run(tmp_path):
    message = _failure(_run(tmp_path))
    assert "no stored features for BTCUSDT" in message
    assert "--select raw_candles,features,labels --partition '2024-01-01|BTCUSDT'" in message
    _write(tmp_path, {date(2024, 1, 1): 0}, labels=False)
    message = _failure(_run(tmp_path))
    assert "no stored labels for BTCUSDT in 2024-01..2024-01" in message
    assert "--partition '2024-01-01|BTCUSDT'" in message
    message = _failure(_run(tmp_path, {"start_month": "2025-01"}))
    assert "stored months: 2024-01..2024-01" in message


def test_bad_config_and_too_little_data_fail_clearly(tmp_path):
    _write(tmp_path, {date(2024, 1, 1): 0})
    message = _failure(_run(tmp_path, {"train_ratio": 0.8}))
    assert "invalid dataset config" in message and "sum to 1" in message
    message = _failure(_run(tmp_path, {"window": 4000}))
    assert "2024-01..2024-01" in message and "less than one window of 4000" in message


def test_selected_channels_are_computed_from_the_stored_candles(tmp_path):
    from resnet_pipeline_tests._walk_forward_helpers import store_months

    store_months(tmp_path, "BTCUSDT", list(MONTHS), hours=24)
    chosen = {"channels": ["calendar", "multi_timeframe"], "price_norm": "zscore", "window": 32}
    result = _run(tmp_path, chosen)
    assert result.success
    splits = DatasetSplits.load(Layout.at(tmp_path).dataset("BTCUSDT"))
    assert splits.channel_names[:2] == ("log_return_5m", "range_5m")
    assert splits.matrix.shape[1] == 13 == len(splits.normalizer.channel_names)
    assert "raw_candles" in splits.lineage["partitions"]["2024-02"]
    itself = _run(tmp_path, {"channels": ["calendar", "cross_asset"], "cross_symbol": "BTCUSDT"})
    assert "cross_symbol 'BTCUSDT' is the traded symbol itself" in _failure(itself)
    absent = _run(tmp_path, {"channels": ["calendar", "cross_asset"], "cross_symbol": "ETHUSDT"})
    assert "of ETHUSDT are not stored" in _failure(absent) and "raw_candles" in _failure(absent)

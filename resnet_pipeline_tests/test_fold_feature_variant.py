"""A feature variant's folds: channels computed from the stored raw candles (the month before
each read month as history, the cross symbol's candles for cross_asset), cut per fold as
reading the fold's months alone gives, the digests covering every file opened, and a missing
cross-symbol month refused naming the command that ingests it."""

from datetime import date

import numpy as np
import pytest

from resnet_pipeline.experiments.fold_inputs import (
    FoldInputError,
    fold_digests,
    read_history,
    read_months,
)
from resnet_pipeline.features.families import compute_channels
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig, build_fold, training_months
from resnet_pipeline.storage import read_partitions, write_parquet_atomic
from resnet_pipeline_tests._walk_forward_helpers import month_frames, store_months

JAN, FEB, MAR = (date(2024, m, 1) for m in (1, 2, 3))
# Months of a few hours, fewer than the SPEC channels' 400 warm-up rows: the variants use
# families that warm up sooner (and so z-scored prices, as no close is kept).
CFG = FoldConfig(window=32, min_train_samples=1, price_norm="zscore")
RULE = LabelConfig(forward_window=6, threshold=0.001)
CALENDAR = FeatureConfig(channels=("calendar", "multi_timeframe"))


def test_a_feature_variant_s_folds_read_candles_and_equal_reading_them_alone(tmp_path):
    store_months(tmp_path, "BTCUSDT", [JAN, FEB, MAR], hours=24)  # 1,200 warm-up minutes
    layout = Layout.at(tmp_path)
    history = read_history(
        layout, "BTCUSDT", [FEB, MAR], CFG, labels=RULE, predicted=True, features=CALENDAR
    )
    for month in (FEB, MAR):
        data = history.fold(month)
        read = training_months([JAN, FEB, MAR], month, CFG) + [month]
        alone = read_months(layout, "BTCUSDT", read, CFG, RULE, CALENDAR)
        assert data.digests == alone.digests
        assert data.digests == fold_digests(layout, "BTCUSDT", month, CFG, RULE, CALENDAR)
        assert not any(key.startswith("features/") for key in data.digests)
        assert data.fold.splits.channel_names == CALENDAR.channels
        assert data.fold.splits.matrix.shape[1] == 13
        np.testing.assert_array_equal(data.samples.eligible, alone.samples.eligible)
        np.testing.assert_array_equal(
            data.fold.splits.normalizer.mean,
            build_fold(alone.samples, month, CFG).splits.normalizer.mean,
        )
    # the rows are the families' one causal pass over the candles, cut to the months read
    candles = read_partitions(layout, "raw_candles", "BTCUSDT", [JAN, FEB, MAR])
    whole = compute_channels(CALENDAR.channels, candles)
    rows = history.read.samples.rows
    np.testing.assert_array_equal(rows, whole[list(CALENDAR.channels)].to_numpy(np.float32))


def test_the_cross_symbol_s_candles_are_read_digested_and_required(tmp_path):
    store_months(tmp_path, "BTCUSDT", [JAN, FEB], hours=3)
    layout = Layout.at(tmp_path)
    eth = FeatureConfig(channels=("calendar", "cross_asset"), cross_symbol="ETHUSDT")
    with pytest.raises(FoldInputError) as refused:
        read_history(layout, "BTCUSDT", [FEB], CFG, labels=RULE, predicted=True, features=eth)
    message = str(refused.value)
    assert "2024-01, 2024-02 of ETHUSDT are not stored" in message
    assert "dagster asset materialize" in message and "raw_candles" in message
    assert "ETHUSDT|2024-01-01" in message or "2024-01-01|ETHUSDT" in message
    for month in (JAN, FEB):
        candles = month_frames("ETHUSDT", month, hours=3)[0]
        write_parquet_atomic(candles, layout.partition("raw_candles", "ETHUSDT", month))
    history = read_history(layout, "BTCUSDT", [FEB], CFG, labels=RULE, predicted=True, features=eth)
    data = history.fold(FEB)
    assert {"raw_candles@ETHUSDT/2024-01", "raw_candles@ETHUSDT/2024-02"} <= set(data.digests)
    assert data.fold.splits.matrix.shape[1] == 6
    before = fold_digests(layout, "BTCUSDT", FEB, CFG, RULE, eth)
    assert before == data.digests
    changed = month_frames("ETHUSDT", JAN, hours=2)[0]
    write_parquet_atomic(changed, layout.partition("raw_candles", "ETHUSDT", JAN))
    assert fold_digests(layout, "BTCUSDT", FEB, CFG, RULE, eth) != before  # a rerun retrains


def test_order_flow_from_candles_without_it_is_refused(tmp_path):
    store_months(tmp_path, "BTCUSDT", [JAN, FEB], hours=3)
    flow = FeatureConfig(channels=("calendar", "order_flow"))
    with pytest.raises(FoldInputError, match="the stored raw candles carry none"):
        read_history(Layout.at(tmp_path), "BTCUSDT", [FEB], CFG, RULE, True, flow)

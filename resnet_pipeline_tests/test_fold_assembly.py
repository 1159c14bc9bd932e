"""A run of folds reads its months once: each fold cut out of the run's rows equals the fold
built from its own months read alone (rows, sample ends, normalizer, fold info)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.experiments.fold_inputs import input_digests, read_history, read_months
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.evaluation.baselines import FoldBaselines
from resnet_pipeline.ml.folds.fold_training import predict_month
from resnet_pipeline.ml.folds.monthly_folds import (
    Fold,
    FoldConfig,
    add_months,
    build_fold,
    eligible_samples,
    fold_samples,
    month_start,
    training_months,
)
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.storage import read_partitions
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._walk_forward_helpers import store_months

JAN, FEB, MAR, APR = (date(2024, m, 1) for m in (1, 2, 3, 4))
START = pd.Timestamp("2024-01-31 20:00", tz="UTC")


def _market():
    """Minutes from Jan 31 20:00 to Apr 1 03:00 with most of February and March left out:
    windows run across every month boundary, and the months in between are short."""
    n = int((pd.Timestamp("2024-04-01 03:00", tz="UTC") - START) / pd.Timedelta(minutes=1))
    times = pd.date_range(START, periods=n, freq="1min")
    keep = (
        (times < pd.Timestamp("2024-02-01 05:00", tz="UTC"))
        | (
            (times >= pd.Timestamp("2024-02-29 21:00", tz="UTC"))
            & (times < pd.Timestamp("2024-03-01 05:00", tz="UTC"))
        )
        | (times >= pd.Timestamp("2024-03-31 21:00", tz="UTC"))
    )
    return feature_frames(n, seed=3, start=str(START), warmup=20, drop=np.flatnonzero(~keep))


FEATURES, LABELS = _market()


def _months_of(frame: pd.DataFrame, months: list[date]) -> pd.DataFrame:
    """The rows of ``months`` only: what reading their stored partitions gives."""
    month = frame["timestamp"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    return frame[month.isin([f"{m:%Y-%m}" for m in months])].reset_index(drop=True)


def _assert_same_fold(cut: Fold, alone: Fold) -> None:
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(cut.splits.ends(split), alone.splits.ends(split))
    assert cut.splits.normalizer.to_dict() == alone.splits.normalizer.to_dict()
    np.testing.assert_array_equal(cut.splits.matrix, alone.splits.matrix)
    np.testing.assert_array_equal(cut.splits.labels, alone.splits.labels)
    np.testing.assert_array_equal(cut.splits.timestamps, alone.splits.timestamps)
    assert cut.info == alone.info


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    month=st.sampled_from([FEB, MAR, APR]),
    rolling=st.sampled_from([None, 1, 2]),
    window=st.sampled_from([16, 40]),
    val_ratio=st.floats(0.05, 0.5),
    purge=st.sampled_from([None, 30]),
)
def test_a_fold_cut_from_the_runs_rows_equals_the_fold_read_alone(
    month, rolling, window, val_ratio, purge
):
    cfg = FoldConfig(
        window=window,
        val_ratio=val_ratio,
        rolling_months=rolling,
        purge_minutes=purge,
        min_train_samples=1,
    )
    run = eligible_samples(FEATURES, LABELS, cfg.split_config())  # every month, once
    months = training_months([JAN, FEB, MAR, APR], month, cfg)
    alone = eligible_samples(
        _months_of(FEATURES, months), _months_of(LABELS, months), cfg.split_config()
    )
    cut = fold_samples(run, month, cfg)
    np.testing.assert_array_equal(cut.eligible, alone.eligible)
    np.testing.assert_array_equal(cut.times, alone.times)
    try:
        expected = build_fold(alone, month, cfg)
    except ValueError as error:  # too little history: refused the same way
        with pytest.raises(ValueError, match=str(error).split(":")[0]):
            build_fold(cut, month, cfg)
        return
    _assert_same_fold(build_fold(cut, month, cfg), expected)


def test_a_rolling_fold_has_no_sample_whose_window_reaches_before_its_months():
    cfg = FoldConfig(window=40, rolling_months=1, min_train_samples=1)
    run = eligible_samples(FEATURES, LABELS, cfg.split_config())
    # the run's rows hold such samples: windows ending early on Feb 1 start in January
    february = run.eligible[(run.times[run.eligible] >= month_start(FEB))]
    assert (run.times[february - cfg.window + 1] < month_start(FEB)).any()
    cut = fold_samples(run, MAR, cfg)  # trains on February only
    assert len(cut.eligible) > 0 and cut.times[0] >= month_start(FEB)
    assert (cut.eligible >= cfg.window - 1).all()  # every window inside the rows read


def test_predictions_from_the_runs_rows_equal_those_from_the_months_read_for_them():
    cfg = FoldConfig(window=32, min_train_samples=1)
    run = eligible_samples(FEATURES, LABELS, cfg.split_config())
    fold = build_fold(fold_samples(run, MAR, cfg), MAR, cfg)
    torch.manual_seed(0)
    model = build_model(ModelConfig(window=32))
    baselines = FoldBaselines.fit(fold.splits)
    read = [FEB, MAR]  # what wf_predictions reads for March
    alone = eligible_samples(
        _months_of(FEATURES, read), _months_of(LABELS, read), cfg.split_config()
    )
    frames = [
        predict_month(model, fold.splits.normalizer, baselines, s, MAR, precision="fp32")
        for s in (run, alone)
    ]
    assert len(frames[0]) > 0
    pd.testing.assert_frame_equal(frames[0], frames[1])


@pytest.mark.parametrize("rolling", [None, 1])
def test_the_run_reads_each_month_once_and_gives_each_fold_its_own_months(tmp_path, rolling):
    months = [JAN, FEB, MAR, APR]
    store_months(tmp_path, "BTCUSDT", months, hours=3)
    layout = Layout.at(tmp_path)
    cfg = FoldConfig(window=32, rolling_months=rolling, min_train_samples=1)
    history = read_history(layout, "BTCUSDT", [FEB, MAR, APR], cfg)
    assert history.read is not None
    first = months[0] if rolling is None else add_months(FEB, -rolling)
    assert history.read.samples.times[0] >= month_start(first)
    for month in (FEB, MAR, APR):
        wanted = training_months(months, month, cfg)
        data = history.fold(month)
        assert data.months == wanted
        assert data.digests == input_digests(
            layout, "BTCUSDT", {"features": wanted, "labels": wanted}
        )
        features = read_partitions(layout, "features", "BTCUSDT", wanted)
        labels = read_partitions(layout, "labels", "BTCUSDT", wanted)
        alone = build_fold(eligible_samples(features, labels, cfg.split_config()), month, cfg)
        _assert_same_fold(data.fold, alone)


@pytest.mark.parametrize("rolling", [None, 1])
def test_a_variant_run_gives_each_fold_and_its_month_what_reading_them_alone_gives(
    tmp_path, rolling
):
    """An experiment's run: labels of the variant's rule from the raw candles, and each fold's
    own month read too (it predicts it)."""
    months = [JAN, FEB, MAR, APR]
    store_months(tmp_path, "BTCUSDT", months, hours=3)
    layout = Layout.at(tmp_path)
    cfg = FoldConfig(window=32, rolling_months=rolling, min_train_samples=1)
    rule = LabelConfig(forward_window=6, threshold=0.001)
    history = read_history(layout, "BTCUSDT", [FEB, MAR, APR], cfg, labels=rule, predicted=True)
    for month in (FEB, MAR, APR):
        data = history.fold(month)
        read = training_months(months, month, cfg) + [month]
        alone = read_months(layout, "BTCUSDT", read, cfg, rule)
        assert data.months == read and data.digests == alone.digests
        assert any(key.startswith("raw_candles/") for key in data.digests)
        np.testing.assert_array_equal(data.samples.eligible, alone.samples.eligible)
        np.testing.assert_array_equal(data.samples.labels, alone.samples.labels)
        _assert_same_fold(data.fold, build_fold(alone.samples, month, cfg))
        assert len(data.fold.splits.test_ends) > 0  # the month itself is predicted

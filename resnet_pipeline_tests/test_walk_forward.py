"""Walk-forward folds: what trains, validates and predicts for month M, and nothing of M leaks."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.data.normalization import PRICE_NORMS
from resnet_pipeline.ml.evaluation.baselines import FoldBaselines, last_rows
from resnet_pipeline.ml.folds.fold_training import predict_month
from resnet_pipeline.ml.folds.monthly_folds import (
    FoldConfig,
    build_fold,
    eligible_samples,
    fold_ranges,
    training_months,
)
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.trading.stitched import stitch
from resnet_pipeline_tests._dataset_helpers import feature_frames

FEB = date(2024, 2, 1)
FEB_START = pd.Timestamp("2024-02-01", tz="UTC")
HORIZON = pd.Timedelta(minutes=12)


def _frames(gap_at: int | None, gap_len: int, seed: int = 0):
    """Jan 31 10:00 .. Feb 1 04:00 (18 h), optionally with an outage."""
    drop = None if gap_at is None else slice(gap_at, gap_at + gap_len)
    return feature_frames(18 * 60, seed=seed, start="2024-01-31 10:00", warmup=20, drop=drop)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    purge=st.integers(12, 120),
    val_ratio=st.floats(0.05, 0.5),
    rolling=st.sampled_from([None, 1]),
    gap_at=st.one_of(st.none(), st.integers(100, 18 * 60 - 60)),
    gap_len=st.integers(6, 40),
)
def test_no_training_or_validation_label_reaches_into_the_fold_month(
    purge, val_ratio, rolling, gap_at, gap_len
):
    features, labels = _frames(gap_at, gap_len)
    cfg = FoldConfig(
        window=16,
        val_ratio=val_ratio,
        rolling_months=rolling,
        purge_minutes=purge,
        min_train_samples=1,
    )
    samples = eligible_samples(features, labels, cfg.split_config())
    ends = fold_ranges(samples, FEB, cfg)
    t = {k: pd.to_datetime(samples.times[v]).tz_localize("UTC") for k, v in ends.items()}
    # labels included: the label at t is known at t + 12 min, which must still be before M
    assert (t["train"] + HORIZON < FEB_START).all() and (t["val"] + HORIZON < FEB_START).all()
    assert (t["val"] + pd.Timedelta(minutes=purge) < FEB_START).all()  # the embargo holds too
    assert (t["train"] + pd.Timedelta(minutes=purge) < t["val"][0]).all()  # purged at val
    assert (
        (t["predict"] >= FEB_START) & (t["predict"] < pd.Timestamp("2024-03-01", tz="UTC"))
    ).all()
    assert len(ends["predict"]) > 0

    # Rewrite everything of February and every label whose horizon reaches it: the fold's
    # training and validation samples and its normalizer must not move.
    fold = build_fold(samples, FEB, cfg)
    rng = np.random.default_rng(1)
    later = features["timestamp"] >= FEB_START
    changed = features.copy()
    for name in FEATURE_CHANNELS:
        changed.loc[later, name] = rng.normal(5, 3, int(later.sum())).astype(np.float32)
    reaching = labels["timestamp"] + HORIZON >= FEB_START
    changed_labels = labels.copy()
    changed_labels.loc[reaching, "label"] = rng.integers(0, 3, int(reaching.sum()))
    again = build_fold(eligible_samples(changed, changed_labels, cfg.split_config()), FEB, cfg)
    for split in ("train", "val"):
        np.testing.assert_array_equal(again.splits.ends(split), fold.splits.ends(split))
        np.testing.assert_array_equal(
            again.splits.labels[again.splits.ends(split)],
            fold.splits.labels[fold.splits.ends(split)],
        )
    assert again.splits.normalizer.to_dict() == fold.splits.normalizer.to_dict()


def test_rolling_window_keeps_only_the_last_months():
    months = [date(2023, m, 1) for m in range(6, 13)] + [date(2024, 1, 1)]
    assert training_months(months, FEB, FoldConfig(rolling_months=2)) == months[-2:]
    assert training_months(months, FEB, FoldConfig()) == months
    assert training_months(months, date(2023, 6, 1), FoldConfig()) == []


def test_too_little_history_names_the_fix():
    features, labels = feature_frames(600, start="2024-01-31 23:00", warmup=20)
    cfg = FoldConfig(window=16)
    with pytest.raises(ValueError, match="materialize features and labels of earlier months"):
        fold_ranges(eligible_samples(features, labels, cfg.split_config()), FEB, cfg)


def test_bad_fold_config_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="rolling_months"):
        FoldConfig(rolling_months=0)
    with pytest.raises(ValueError, match="purge_minutes"):
        FoldConfig(purge_minutes=5)


def test_predictions_use_the_given_normalizer_and_match_single_windows():
    features, labels = _frames(None, 0)
    cfg = FoldConfig(window=32, min_train_samples=1)
    samples = eligible_samples(features, labels, cfg.split_config())
    fold = build_fold(samples, FEB, cfg)
    torch.manual_seed(0)
    model = build_model(ModelConfig(window=32)).eval()
    baselines = FoldBaselines.fit(fold.splits)
    frame = predict_month(model, fold.splits.normalizer, baselines, samples, FEB)
    assert len(frame) == len(fold.splits.test_ends) > 0
    # an independent path: raw rows of one window through Normalizer.window, one at a time
    raw = features.sort_values("timestamp")[list(FEATURE_CHANNELS)].to_numpy(np.float64)
    for i in (0, len(frame) // 2, len(frame) - 1):
        end = int(fold.splits.test_ends[i])
        x = fold.splits.normalizer.window(raw[end - 31 : end + 1])
        np.testing.assert_allclose(
            frame.loc[i, ["p_down", "p_neutral", "p_up"]].to_numpy(np.float64),
            predict_proba(model, x[None])[0],
            atol=1e-5,
        )
    assert np.allclose(frame[["p_down", "p_neutral", "p_up"]].sum(axis=1), 1, atol=1e-5)


def test_stored_logistic_coefficients_reproduce_sklearn():
    features, labels = _frames(None, 0)
    cfg = FoldConfig(window=16, min_train_samples=1)
    fold = build_fold(eligible_samples(features, labels, cfg.split_config()), FEB, cfg)
    baselines = FoldBaselines.fit(fold.splits)
    x = last_rows(fold.splits, fold.splits.train_ends)
    y = fold.splits.labels[fold.splits.train_ends]
    reference = LogisticRegression(max_iter=300).fit(x, y)
    expected = np.zeros((len(x), 3))
    expected[:, reference.classes_] = reference.predict_proba(x)
    np.testing.assert_allclose(baselines.predict_proba(x)["logistic"], expected, atol=1e-6)
    shares = np.bincount(y, minlength=3) / len(y)
    np.testing.assert_allclose(baselines.predict_proba(x)["majority"][0], shares)


_FOLDS = {}


def _fold_of(price_norm: str):
    if price_norm not in _FOLDS:
        cfg = FoldConfig(window=16, min_train_samples=1, price_norm=price_norm)
        _FOLDS[price_norm] = build_fold(
            eligible_samples(*_frames(None, 0), cfg.split_config()), FEB, cfg
        )
    return _FOLDS[price_norm]


@settings(max_examples=30, deadline=None)
@given(
    price_norm=st.sampled_from(PRICE_NORMS),
    picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=40),
)
def test_the_baselines_rows_are_the_newest_rows_of_the_model_windows(price_norm, picks):
    splits = _fold_of(price_norm).splits
    ends = np.concatenate([splits.train_ends, splits.test_ends])
    ends = ends[np.asarray(picks) % len(ends)]
    np.testing.assert_array_equal(last_rows(splits, ends), splits.windows(ends)[:, :, -1])


def test_both_training_assets_validate_on_a_fixed_sample_by_default():
    from resnet_pipeline.defs.dagster_config import part_of
    from resnet_pipeline.defs.training.training_config import TrainingConfig
    from resnet_pipeline.defs.walk_forward.wf_model import WalkForwardConfig
    from resnet_pipeline.ml.data.windows import WindowDataset
    from resnet_pipeline.ml.training.train_config import TrainConfig
    from resnet_pipeline.ml.training.trainer import val_loader

    default = TrainConfig().max_val_samples
    assert default == 4096
    for config in (WalkForwardConfig, TrainingConfig):
        assert part_of(TrainConfig, config()).max_val_samples == default
        assert part_of(TrainConfig, config(max_val_samples=None)).max_val_samples is None
    splits = _fold_of("window_relative").splits
    for count, expected in ((None, len(splits.val_ends)), (5, 5)):
        loader = val_loader(WindowDataset(splits, "val"), TrainConfig(max_val_samples=count), False)
        assert sum(len(y) for _, y in loader) == expected  # null: every validation window


def _fold_frame(month: str, minutes: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([1, 1, 1], minutes)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(f"{month}-01 00:00", periods=minutes, freq="1min", tz="UTC"),
            "p_down": proba[:, 0],
            "p_neutral": proba[:, 1],
            "p_up": proba[:, 2],
            "label": rng.integers(0, 3, minutes),
        }
    )


def test_stitch_keeps_each_fold_exactly_and_refuses_foreign_minutes():
    folds = {"2024-03": _fold_frame("2024-03", 50, 1), "2024-02": _fold_frame("2024-02", 40, 2)}
    stitched = stitch(folds)
    assert list(stitched["fold"].unique()) == ["2024-02", "2024-03"]
    for month, frame in folds.items():
        part = stitched[stitched["fold"] == month].drop(columns="fold").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, frame)
    bad = {"2024-02": _fold_frame("2024-03", 5, 3)}
    with pytest.raises(ValueError, match="outside its month: re-materialize wf_predictions"):
        stitch(bad)
    with pytest.raises(ValueError, match="materialize wf_predictions"):
        stitch({})


def test_monthly_schedule_is_off_by_default_and_trains_the_new_months_fold():
    import dagster as dg

    from resnet_pipeline_tests._pipeline import pipeline_defs

    defs = pipeline_defs()
    schedule = defs.resolve_schedule_def("monthly_walk_forward")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    context = dg.build_schedule_context(
        scheduled_execution_time=pd.Timestamp("2024-05-01 00:30", tz="UTC").to_pydatetime(),
        repository_def=defs.get_repository_def(),
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    wanted = {
        (r.partition_key, tuple(k.to_user_string() for k in r.asset_selection)) for r in requests
    }
    assert ("2024-05-01|BTCUSDT", ("wf_model",)) in wanted
    assert ("2024-04-01|BTCUSDT", ("wf_predictions",)) in wanted

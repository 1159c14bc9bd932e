"""Samples and splits: no label horizon crosses a boundary, exclusions, bad configs, invariants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.labels import compute_labels
from resnet_pipeline.ml.data.dataset import build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._features_helpers import random_candles

CFG = SplitConfig(window=64)
HORIZON = pd.Timedelta(minutes=CFG.forward_window)


@pytest.fixture(scope="module")
def frames():
    return feature_frames(3000)


@pytest.fixture(scope="module")
def splits(frames):
    return build_splits(*frames, CFG)


def _times(s, ends):
    return pd.to_datetime(s.timestamps[ends])


def test_no_label_horizon_reaches_the_next_split(splits):
    assert _times(splits, splits.train_ends).max() + HORIZON < _times(splits, splits.val_ends).min()
    assert _times(splits, splits.val_ends).max() + HORIZON < _times(splits, splits.test_ends).min()
    assert splits.stats.purged == {"train": 12, "val": 12}  # contiguous minutes: 12 samples


def test_training_labels_do_not_depend_on_later_prices(frames, splits):
    """Rewrite every price from the first validation sample on and recompute the labels: the
    training labels stay the same; the purged ones would not have (so the check can fail)."""
    features, _ = frames
    later = features.copy()
    first_val = int(splits.val_ends[0])
    later.loc[first_val:, "close"] = later.loc[first_val:, "close"] * np.float32(1.5)
    relabelled = compute_labels(later[["timestamp", "close"]])
    again = build_splits(features, relabelled, CFG)
    np.testing.assert_array_equal(again.train_ends, splits.train_ends)
    np.testing.assert_array_equal(again.labels[again.train_ends], splits.labels[splits.train_ends])
    purged = np.arange(int(splits.train_ends[-1]) + 1, first_val)
    assert len(purged) == 12 and (again.labels[purged] != splits.labels[purged]).any()


def test_split_is_chronological_with_the_configured_shares(splits):
    n = [len(splits.train_ends), len(splits.val_ends), len(splits.test_ends)]
    total = splits.stats.eligible
    assert sum(n) + 24 == total
    assert n[0] + 12 == int(total * 0.7) and n[1] + 12 == int(total * 0.15)
    ends = np.concatenate([splits.train_ends, splits.val_ends, splits.test_ends])
    assert np.all(np.diff(ends) > 0)


def test_real_features_and_labels_build(tmp_path):
    candles = random_candles(1, 2500, start="2024-01-01")
    s = build_splits(compute_features(candles), compute_labels(candles), CFG)
    assert s.stats.warmup_excluded > 0 and len(s.test_ends) > 0  # the real warm-up is honoured
    assert s.matrix.dtype == np.float32 and s.matrix.shape == (2500, 15)


def test_a_gap_longer_than_the_limit_excludes_every_window_spanning_it():
    features, labels = feature_frames(3000, drop=slice(1500, 1510))  # a 11-minute step
    s = build_splits(features, labels, CFG)
    ends = np.concatenate([s.train_ends, s.val_ends, s.test_ends])
    after_gap = 1500  # the first row after the outage
    spanning = (ends >= after_gap) & (ends < after_gap + CFG.window - 1)
    assert not spanning.any() and after_gap + CFG.window - 1 in ends  # first window after it
    assert s.stats.gap_excluded == CFG.window - 1
    assert build_splits(features, labels, SplitConfig(window=64, max_gap_minutes=11)).stats == (
        build_splits(features, labels, SplitConfig(window=64, max_gap_minutes=60)).stats
    )


@pytest.mark.parametrize(("missing", "excluded"), [(4, False), (5, True)])
def test_gap_limit_is_inclusive(missing, excluded):
    features, labels = feature_frames(1200, drop=slice(600, 600 + missing))  # step missing+1
    s = build_splits(features, labels, CFG)
    assert (s.stats.gap_excluded == CFG.window - 1) is excluded


def test_gaps_come_from_the_timestamps_not_the_stored_column():
    """A missing month between two stored months: each month's own gap_minutes look complete,
    but the assembled rows jump, and windows across the jump are excluded."""
    features, labels = feature_frames(3000)
    keep = np.r_[0:1400, 2000:3000]
    s = build_splits(features.iloc[keep], labels, CFG)  # gap_minutes stays 1 at the jump
    assert s.stats.gap_excluded == CFG.window - 1


def test_windows_never_contain_warmup_or_nan_rows():
    features, labels = feature_frames(2000, warmup=100)
    s = build_splits(features, labels, CFG)
    assert s.train_ends[0] == 100 + CFG.window - 1  # the first window starts after warm-up
    assert s.stats.warmup_excluded == 100
    broken = features.copy()
    broken.loc[900, "vwap_distance"] = np.nan  # a row the features left undefined
    t = build_splits(broken, labels, CFG)
    ends = np.concatenate([t.train_ends, t.val_ends, t.test_ends])
    assert not ((ends >= 900) & (ends < 900 + CFG.window)).any()
    assert t.stats.nonfinite_excluded == CFG.window
    assert np.isfinite(t.windows(ends)).all()


def test_unsorted_rows_give_the_same_splits(frames, splits):
    features, labels = frames
    shuffled = features.sample(frac=1.0, random_state=0)
    again = build_splits(shuffled, labels.sample(frac=1.0, random_state=1), CFG)
    np.testing.assert_array_equal(again.val_ends, splits.val_ends)
    np.testing.assert_array_equal(again.matrix, splits.matrix)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_ratio": 0.8, "val_ratio": 0.15, "test_ratio": 0.15}, "sum to 1"),
        ({"train_ratio": 1.0, "val_ratio": 0.0, "test_ratio": 0.0}, "positive"),
        ({"window": 4}, "at least 8"),
        ({"price_norm": "minmax"}, "price_norm"),
        ({"max_gap_minutes": 0}, "max_gap_minutes"),
        ({"purge_minutes": 5}, "shorter than the label horizon"),
        ({"forward_window": 0}, "forward_window"),
    ],
)
def test_bad_configs_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitConfig(**kwargs)


def test_bad_inputs_fail_clearly(frames):
    features, labels = frames
    with pytest.raises(ValueError, match="less than one window"):
        build_splits(features.iloc[:200], labels, SplitConfig(window=256))
    with pytest.raises(ValueError, match="no labelled sample"):
        build_splits(features, labels.assign(label=pd.array([pd.NA] * len(labels), "Int8")), CFG)
    with pytest.raises(ValueError, match="no labelled sample"):
        build_splits(features, labels.iloc[:0], CFG)
    with pytest.raises(ValueError, match=r"lack columns \['warmup'\]"):
        build_splits(features.drop(columns="warmup"), labels, CFG)
    with pytest.raises(ValueError, match="labels lack columns"):
        build_splits(features, labels.drop(columns="label"), CFG)
    with pytest.raises(ValueError, match="duplicate timestamps"):
        build_splits(pd.concat([features, features.iloc[[5]]]), labels, CFG)
    with pytest.raises(ValueError, match="only 0 usable samples.*gaps > 1 min"):
        every_other = feature_frames(3000, warmup=0, drop=slice(None, None, 7))
        build_splits(*every_other, SplitConfig(window=64, max_gap_minutes=1))
    with pytest.raises(ValueError, match="split is empty"):
        build_splits(*feature_frames(150, warmup=0), SplitConfig(window=64, purge_minutes=60))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(300, 1500),
    window=st.integers(8, 80),
    train=st.floats(0.3, 0.8),
    val_share=st.floats(0.1, 0.9),
    purge=st.integers(12, 40),
    gaps=st.lists(st.tuples(st.integers(0, 1499), st.integers(1, 9)), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_split_invariants(n, window, train, val_share, purge, gaps, seed):
    val = (1 - train) * val_share
    cfg = SplitConfig(
        window=window,
        train_ratio=train,
        val_ratio=val,
        test_ratio=1 - train - val,
        purge_minutes=purge,
    )
    dropped = sorted({r for at, size in gaps for r in range(at, at + size) if r < n})
    features, labels = feature_frames(n, seed=seed, warmup=seed % 40, drop=dropped)
    try:
        s = build_splits(features, labels, cfg)
    except ValueError as error:  # a tiny range is refused, never leaked
        assert "split is empty" in str(error) or "usable samples" in str(error)
        event("refused: too little data")
        return
    event("built")
    # an independent count of the usable samples, window by window
    times = features["timestamp"].to_numpy()
    has_label = labels["label"].notna().to_numpy()
    steps = np.diff(times) / np.timedelta64(1, "m")
    usable = [
        t
        for t in range(window - 1, len(features))
        if has_label[t]
        and not features["warmup"].iloc[t - window + 1 : t + 1].any()
        and not (steps[t - window + 1 : t] > cfg.max_gap_minutes).any()
    ]
    assert s.stats.eligible == len(usable)
    ends = np.concatenate([s.train_ends, s.val_ends, s.test_ends])
    assert set(ends.tolist()) <= set(usable) and np.all(np.diff(ends) > 0)
    horizon = pd.Timedelta(minutes=purge)
    assert _times(s, s.train_ends).max() + horizon < _times(s, s.val_ends).min()
    assert _times(s, s.val_ends).max() + horizon < _times(s, s.test_ends).min()
    assert len(s.train_ends) + s.stats.purged["train"] == int(len(usable) * train)
    assert len(s.val_ends) + s.stats.purged["val"] == int(len(usable) * val)
    assert (s.labels[ends] >= 0).all()

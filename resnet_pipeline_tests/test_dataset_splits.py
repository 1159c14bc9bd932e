"""Leak-free splits, train-only statistics, zero-copy windows, gaps, augmentation, configs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.channels import FEATURE_CHANNELS, compute_features
from resnet_pipeline.features.labels import compute_labels
from resnet_pipeline.ml.augment import AugmentConfig
from resnet_pipeline.ml.dataset import (
    DatasetSplits,
    SplitConfig,
    WindowDataset,
    build_splits,
    make_loader,
)
from resnet_pipeline_tests._features_helpers import random_candles

CFG = SplitConfig(window=64)


def _inputs(n=3000, seed=0, drop=None):
    c = random_candles(seed, n, start="2024-01-01")
    if drop is not None:
        c = c.drop(index=drop).reset_index(drop=True)
    return compute_features(c), compute_labels(c)


@pytest.fixture(scope="module")
def splits():
    return build_splits(*_inputs(), CFG)


def _time(s, ends):
    return pd.to_datetime(s.timestamps[ends])


def test_no_label_horizon_reaches_the_next_split(splits):
    horizon = pd.Timedelta(minutes=CFG.forward_window)
    assert _time(splits, splits.train_ends).max() + horizon < _time(splits, splits.val_ends).min()
    assert _time(splits, splits.val_ends).max() + horizon < _time(splits, splits.test_ends).min()
    assert splits.stats.purged == {"train": 12, "val": 12}


def test_chronological_proportions(splits):
    n = [len(splits.train_ends), len(splits.val_ends), len(splits.test_ends)]
    total = sum(n) + 24
    assert abs(n[0] + 12 - 0.7 * total) <= 1 and abs(n[1] + 12 - 0.15 * total) <= 1
    assert np.all(
        np.diff(np.concatenate([splits.train_ends, splits.val_ends, splits.test_ends])) > 0
    )


def test_statistics_come_from_training_rows_only():
    features, labels = _inputs()
    base = build_splits(features, labels, CFG)
    later = features.copy()
    first_val_row = int(base.train_ends[-1]) + 1  # rows only validation/test windows see
    cols = list(FEATURE_CHANNELS)
    later.loc[first_val_row:, cols] = later.loc[first_val_row:, cols].to_numpy() * 3.0 + 7.0
    changed = build_splits(later, labels, CFG)
    np.testing.assert_array_equal(changed.normalizer.mean, base.normalizer.mean)
    np.testing.assert_array_equal(changed.normalizer.std, base.normalizer.std)
    # and the statistics are those of the training rows
    rows = features[cols].to_numpy(np.float64)[
        int(base.train_ends[0]) - CFG.window + 1 : int(base.train_ends[-1]) + 1
    ]
    non_price = [i for i, c in enumerate(cols) if c not in ("open", "high", "low", "close")]
    np.testing.assert_allclose(base.normalizer.mean[non_price], rows[:, non_price].mean(0))


def test_window_is_the_direct_slice_and_fresh_data_normalizes_identically(splits):
    features, _ = _inputs()
    raw = features[list(FEATURE_CHANNELS)].to_numpy(np.float64)
    for end in (int(splits.train_ends[0]), int(splits.test_ends[-1])):
        w = splits.window(end)
        assert w.shape == (15, CFG.window) and w.dtype == np.float32
        rows = raw[end - CFG.window + 1 : end + 1]
        np.testing.assert_allclose(splits.normalizer.window(rows), w, rtol=1e-5, atol=1e-5)
        # non-price channels: exactly the z-scored slice of the stored matrix
        np.testing.assert_array_equal(w[4:], splits.matrix[end - CFG.window + 1 : end + 1, 4:].T)
        close = rows[:, 3] / rows[-1, 3] - 1
        expected = (close - splits.normalizer.mean[3]) / splits.normalizer.std[3]
        np.testing.assert_allclose(w[3], expected, rtol=1e-4, atol=1e-4)


def test_windows_spanning_a_gap_or_warmup_are_excluded():
    features, labels = _inputs(drop=list(range(1500, 1510)))  # a 10-minute outage
    s = build_splits(features, labels, CFG)
    ends = np.concatenate([s.train_ends, s.val_ends, s.test_ends])
    gap_row = int(np.flatnonzero(features["gap_minutes"].to_numpy() > 5)[0])
    assert not np.any((ends >= gap_row) & (ends < gap_row + CFG.window - 1))
    assert s.stats.gap_excluded == CFG.window - 1  # every window ending inside the next 63 rows
    warm = np.flatnonzero(features["warmup"].to_numpy())
    assert ends.min() - CFG.window + 1 > warm.max()
    loose = build_splits(features, labels, SplitConfig(window=64, max_gap_minutes=60))
    assert loose.stats.gap_excluded == 0


def test_save_load_round_trip(tmp_path, splits):
    path = splits.save(tmp_path / "BTCUSDT")
    again = DatasetSplits.load(path)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(again.ends(split), splits.ends(split))
    end = int(splits.val_ends[3])
    np.testing.assert_array_equal(again.window(end), splits.window(end))
    assert again.config == splits.config
    assert not list(tmp_path.glob(".*"))  # no temp directories left behind
    splits.save(tmp_path / "BTCUSDT")  # overwriting works too
    with pytest.raises(FileNotFoundError, match="materialize dataset_splits"):
        DatasetSplits.load(tmp_path / "ETHUSDT")


def test_no_window_is_materialized(splits):
    views = splits._views if splits._views is not None else None
    splits.window(int(splits.train_ends[0]))
    assert splits._views.base is not None  # a strided view of the matrix, not a copy
    assert np.shares_memory(splits._views, splits.matrix)
    assert views is None or views is splits._views


def test_augmentation_train_only_shape_and_determinism(splits):
    aug = AugmentConfig()
    a = WindowDataset(splits, "train", aug, seed=3)
    b = WindowDataset(splits, "train", aug, seed=3)
    xa, ya = a.__getitems__([0, 5, 9])
    xb, _ = b.__getitems__([9, 0])
    assert xa.shape == (3, 15, CFG.window)
    np.testing.assert_array_equal(xa[2].numpy(), xb[0].numpy())  # same sample, any batch
    plain = WindowDataset(splits, "train").__getitems__([0])[0]
    assert not np.allclose(xa[0].numpy(), plain[0].numpy())
    a.set_epoch(1)
    assert not np.allclose(a.__getitems__([0])[0].numpy(), xa[0].numpy())
    with pytest.raises(ValueError, match="training split only"):
        WindowDataset(splits, "val", aug)
    val = WindowDataset(splits, "val")
    x, y = val.__getitems__([0])
    np.testing.assert_array_equal(x[0].numpy(), splits.window(int(splits.val_ends[0])))


def test_loader_yields_batches_with_labels(splits):
    loader = make_loader(WindowDataset(splits, "test"), batch_size=32)
    x, y = next(iter(loader))
    assert x.shape == (32, 15, CFG.window) and y.dtype.is_floating_point is False
    assert set(y.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(y.numpy(), splits.labels[splits.test_ends[:32]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_ratio": 0.8, "val_ratio": 0.15, "test_ratio": 0.15}, "sum to 1"),
        ({"window": 4}, "at least 8"),
        ({"price_norm": "minmax"}, "price_norm"),
        ({"max_gap_minutes": 0}, "max_gap_minutes"),
    ],
)
def test_bad_configs_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitConfig(**kwargs)


def test_too_little_data_fails_clearly():
    features, labels = _inputs(n=100)
    with pytest.raises(ValueError, match="less than one window"):
        build_splits(features, labels, SplitConfig(window=256))
    with pytest.raises(ValueError, match="usable samples|split is empty"):
        build_splits(*_inputs(n=420), SplitConfig(window=16))


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(700, 1500),
    train=st.floats(0.3, 0.8),
    val_share=st.floats(0.2, 0.8),
    purge=st.integers(0, 30),
)
def test_split_invariants(n, train, val_share, purge):
    val = (1 - train) * val_share
    cfg = SplitConfig(
        window=32, train_ratio=train, val_ratio=val, test_ratio=1 - train - val, purge_minutes=purge
    )
    try:
        s = build_splits(*_inputs(n=n, seed=n), cfg)
    except ValueError as error:  # a tiny split purged away entirely is refused, not leaked
        assert "split is empty" in str(error)
        return
    horizon = pd.Timedelta(minutes=purge)
    assert _time(s, s.train_ends).max() + horizon < _time(s, s.val_ends).min()
    assert _time(s, s.val_ends).max() + horizon < _time(s, s.test_ends).min()
    ends = np.concatenate([s.train_ends, s.val_ends, s.test_ends])
    assert (s.labels[ends] >= 0).all() and (ends >= cfg.window - 1).all()

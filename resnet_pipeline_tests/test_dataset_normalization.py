"""Train-only statistics, exact window-relative price statistics, windows = normalized slices."""

import numpy as np
import pytest

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, PRICE_CHANNELS
from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.normalization import Normalizer, covered_rows, relative_price_moments
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline_tests._dataset_helpers import feature_frames

CFG = SplitConfig(window=64)
PRICE = [FEATURE_CHANNELS.index(c) for c in PRICE_CHANNELS]
OTHER = [i for i in range(15) if i not in PRICE]
CLOSE = FEATURE_CHANNELS.index("close")


@pytest.fixture(scope="module")
def frames():
    # two outages 30 rows apart inside the training period: the rows between them belong to
    # no usable window, so "training rows" is not one contiguous block
    return feature_frames(4000, drop=[*range(1000, 1010), *range(1040, 1050)])


@pytest.fixture(scope="module", params=["window_relative", "zscore"])
def splits(request, frames):
    return build_splits(*frames, SplitConfig(window=64, price_norm=request.param))


def _raw(features):
    return features[list(FEATURE_CHANNELS)].to_numpy(np.float32)


def test_statistics_ignore_validation_and_test_data(frames, splits):
    features, labels = frames
    cfg = splits.config
    later = features.copy()
    first_unseen = int(splits.train_ends[-1]) + 1  # rows only validation/test windows see
    cols = list(FEATURE_CHANNELS)
    later.loc[first_unseen:, cols] = later.loc[first_unseen:, cols].to_numpy() * 3 + 7
    changed = build_splits(later, labels, cfg)
    np.testing.assert_array_equal(changed.train_ends, splits.train_ends)
    np.testing.assert_array_equal(changed.normalizer.mean, splits.normalizer.mean)
    np.testing.assert_array_equal(changed.normalizer.std, splits.normalizer.std)
    # the same perturbation one row earlier reaches a training window and moves them
    earlier = features.copy()
    earlier.loc[first_unseen - 1 :, cols] = earlier.loc[first_unseen - 1 :, cols].to_numpy() * 3
    assert not np.array_equal(
        build_splits(earlier, labels, cfg).normalizer.std, changed.normalizer.std
    )


def test_statistics_are_those_of_the_training_windows(frames, splits):
    features, _ = frames
    raw = _raw(features).astype(np.float64)
    window = splits.config.window
    rows = sorted({r for t in splits.train_ends for r in range(t - window + 1, t + 1)})
    assert not set(range(1000, 1030)) & set(rows) and rows[-1] > 1030
    norm = splits.normalizer
    row_channels = OTHER if norm.relative else list(range(15))
    np.testing.assert_allclose(norm.mean[row_channels], raw[rows][:, row_channels].mean(0))
    np.testing.assert_allclose(norm.std[row_channels], raw[rows][:, row_channels].std(0))
    if norm.relative:  # every training window, stacked the slow way
        rel = np.stack(
            [raw[t - window + 1 : t + 1][:, PRICE] / raw[t, CLOSE] - 1 for t in splits.train_ends]
        )
        np.testing.assert_allclose(norm.mean[PRICE], rel.mean(axis=(0, 1)), rtol=1e-9)
        np.testing.assert_allclose(norm.std[PRICE], rel.std(axis=(0, 1)), rtol=1e-9)


def test_a_window_is_the_normalized_slice(frames, splits):
    features, _ = frames
    raw = _raw(features)
    norm, window = splits.normalizer, splits.config.window
    for end in (int(splits.train_ends[0]), int(splits.val_ends[7]), int(splits.test_ends[-1])):
        w = splits.window(end)
        assert w.shape == (15, window) and w.dtype == np.float32
        rows = raw[end - window + 1 : end + 1].astype(np.float64)
        stored = splits.matrix[end - window + 1 : end + 1].T
        expected = (rows - norm.mean) / norm.std
        if norm.relative:
            np.testing.assert_array_equal(w[OTHER], stored[OTHER])
            rel = rows[:, PRICE] / rows[-1, CLOSE] - 1
            expected[:, PRICE] = (rel - norm.mean[PRICE]) / norm.std[PRICE]
        else:
            np.testing.assert_array_equal(w, stored)  # the plain slice, nothing per window
        np.testing.assert_allclose(w, expected.T, rtol=1e-5, atol=2e-5)
        if norm.relative:  # the last close is the reference: relative value 0
            assert w[CLOSE, -1] == np.float32(-norm.mean[CLOSE] / norm.std[CLOSE])


def test_fresh_rows_normalize_bit_for_bit_like_the_dataset(tmp_path, frames, splits):
    """The inference path (checkpoint normalizer on raw rows) sees exactly the training input."""
    features, _ = frames
    raw = _raw(features)
    restored = Normalizer.from_dict(splits.normalizer.to_dict())  # as a checkpoint holds it
    loaded = DatasetSplits.load(splits.save(tmp_path / "BTCUSDT"))
    window = splits.config.window
    for end in (int(splits.train_ends[3]), int(splits.test_ends[-1])):
        rows = raw[end - window + 1 : end + 1]
        np.testing.assert_array_equal(restored.window(rows), splits.window(end))
        np.testing.assert_array_equal(restored.window(rows.astype(np.float64)), splits.window(end))
        np.testing.assert_array_equal(loaded.window(end), splits.window(end))


def test_normalizer_rejects_what_it_cannot_normalize(splits):
    norm = splits.normalizer
    with pytest.raises(ValueError, match=r"expected raw rows \[window, 15\]"):
        norm.window(np.zeros((64, 14), np.float32))
    rows = np.ones((64, 15), np.float32)
    rows[3, 9] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        norm.window(rows)
    with pytest.raises(ValueError, match="price_norm"):
        Normalizer(mean=norm.mean, std=norm.std, price_norm="minmax")
    with pytest.raises(ValueError, match="shapes"):
        Normalizer(mean=norm.mean[:3], std=norm.std)


def test_relative_price_moments_are_exact_at_any_price_level():
    rng = np.random.default_rng(5)
    n, window = 5000, 256
    for level in (0.001, 60_000.0, 3e7):
        close = (level * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))).astype(np.float32)
        prices = np.stack([close * np.float32(1 + 1e-4 * k) for k in (1, 2, -1)] + [close], 1)
        ends = np.sort(rng.choice(np.arange(window - 1, n), 300, replace=False))
        mean, std = relative_price_moments(prices, np.arange(4), 3, ends, window)
        rel = np.stack(
            [prices[t - window + 1 : t + 1].astype(np.float64) / close[t] - 1 for t in ends]
        )
        np.testing.assert_allclose(mean, rel.mean(axis=(0, 1)), rtol=1e-8)
        np.testing.assert_allclose(std, rel.std(axis=(0, 1)), rtol=1e-8)


def test_covered_rows():
    covered = covered_rows(20, np.array([5, 6, 15]), 3)
    assert np.flatnonzero(covered).tolist() == [3, 4, 5, 6, 13, 14, 15]

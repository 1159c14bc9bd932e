"""Labels (SPEC 5): thresholds, the unknown tail, gaps, and month invariance."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.labels import DOWN, NEUTRAL, UP, LabelConfig, compute_labels
from resnet_pipeline_tests._features_helpers import random_candles


def _candles(closes, start="2024-01-31 23:00") -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(closes), freq="1min", tz="UTC")
    closes = np.asarray(closes, np.float64)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": 1.0,
        }
    )


EXACT = 1 / 512  # 128 * (1 +- 1/512) is exact in binary, so returns hit the threshold exactly


def _labels(closes, window=1):
    out = compute_labels(_candles(closes), config=LabelConfig(window, threshold=EXACT))
    return [None if pd.isna(x) else int(x) for x in out["label"]], out


def test_exactly_at_the_threshold_is_neutral():
    got, out = _labels([128.0, 128.25, 128.0, 127.75])
    assert out["future_return"].iloc[0] == EXACT  # +threshold exactly
    assert out["future_return"].iloc[2] == -EXACT  # -threshold exactly
    assert got[0] == NEUTRAL and got[2] == NEUTRAL and got[3] is None


def test_beyond_the_threshold_is_up_or_down():
    got, _ = _labels([128.0, 128.5, 128.0, 127.5, 127.5])
    assert got == [UP, DOWN, DOWN, NEUTRAL, None]


def test_the_unknown_tail_is_missing_not_neutral():
    got, out = _labels([128.0] * 20, window=12)
    assert got == [NEUTRAL] * 8 + [None] * 12
    assert out["label"].dtype == pd.Int8Dtype()
    assert out["future_return"].iloc[8:].isna().all()


def test_next_month_fills_the_tail():
    jan = _candles(np.linspace(100, 101, 60), start="2024-01-31 23:00")
    feb = _candles(np.linspace(101, 103, 60), start="2024-02-01 00:00")
    alone = compute_labels(jan)
    assert alone["label"].isna().sum() == 12
    joined = compute_labels(jan, following=feb)
    assert joined["label"].notna().all()
    whole = compute_labels(pd.concat([jan, feb], ignore_index=True))
    pd.testing.assert_frame_equal(joined, whole.iloc[:60].reset_index(drop=True))


def test_gap_makes_labels_missing_not_neutral():
    c = _candles(np.linspace(100, 110, 100)).drop(index=range(50, 60)).reset_index(drop=True)
    out = compute_labels(c)
    # t whose t+12 minutes fell into the outage (minutes 38..47) have no label
    missing = out.loc[out["label"].isna(), "timestamp"]
    minutes = ((missing - c["timestamp"].iloc[0]).dt.total_seconds() // 60).astype(int).tolist()
    assert minutes[:10] == list(range(38, 48))
    assert out["future_return"].isna().equals(out["label"].isna())


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="forward_window"):
        LabelConfig(forward_window=0)
    with pytest.raises(ValueError, match="threshold"):
        LabelConfig(threshold=-0.1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 800), cut=st.floats(0.05, 0.95))
def test_month_split_invariance(seed, n, cut):
    c = random_candles(seed, n)
    k = int(cut * n)
    first, second = c.iloc[:k].reset_index(drop=True), c.iloc[k:].reset_index(drop=True)
    parts = pd.concat(
        [compute_labels(first, following=second), compute_labels(second)], ignore_index=True
    )
    pd.testing.assert_frame_equal(parts, compute_labels(c))

"""The 15 channels: each against a direct reference, causality, and partition invariance."""

import numpy as np
import pandas as pd
import pytest
import ta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.channels import WARMUP_ROWS, compute_features
from resnet_pipeline.features.indicators import wilder_atr
from resnet_pipeline_tests._features_helpers import random_candles, synthetic


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return synthetic("2024-01-01", 3 * 1440)


@pytest.fixture(scope="module")
def feats(candles: pd.DataFrame) -> pd.DataFrame:
    return compute_features(candles)


def _close(a, b, rtol=1e-5, atol=1e-6):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    defined = ~np.isnan(b)
    np.testing.assert_allclose(a[defined], b[defined], rtol=rtol, atol=atol)


def test_schema_is_the_spec_interface(feats):
    assert list(feats.columns) == ["timestamp", *FEATURE_CHANNELS, "warmup", "gap_minutes"]
    assert len(FEATURE_CHANNELS) == 15
    assert all(feats[c].dtype == np.float32 for c in FEATURE_CHANNELS)
    assert str(feats["timestamp"].dt.tz) == "UTC"


def test_each_channel_matches_a_direct_reference(candles, feats):
    c = candles
    o, h, lo, cl, v = (c[k] for k in ("open", "high", "low", "close", "volume"))
    for name in ("open", "high", "low", "close", "volume"):
        _close(feats[name], c[name])
    _close(feats["log_return"], np.log(cl / cl.shift(1)))
    _close(feats["hl_range"], (h - lo) / cl)
    _close(feats["body_ratio"], (cl - o).abs() / (h - lo))
    _close(feats["rsi_14"], ta.momentum.RSIIndicator(cl, 14).rsi(), rtol=1e-4)
    _close(feats["macd"], ta.trend.MACD(cl, 26, 12).macd() / cl, rtol=1e-4, atol=1e-8)
    _close(feats["bb_pctb"], ta.volatility.BollingerBands(cl, 20, 2).bollinger_pband(), rtol=1e-4)
    atr = ta.volatility.AverageTrueRange(h, lo, cl, 14).average_true_range()
    _close(feats["atr_14"].iloc[13:], (atr / cl).iloc[13:], rtol=1e-4, atol=1e-9)
    _close(feats["volume_ratio"], v / v.rolling(20).mean(), rtol=1e-4)
    obv = ta.volume.OnBalanceVolumeIndicator(cl, v).on_balance_volume()
    _close(feats["obv_direction"], np.sign(obv.diff()))
    typical = (h + lo + cl) / 3
    day = c["timestamp"].dt.floor("D")
    vwap = (typical * v).groupby(day).cumsum() / v.groupby(day).cumsum()
    _close(feats["vwap_distance"], (cl - vwap) / vwap, rtol=1e-4, atol=1e-7)


def test_vectorized_atr_equals_ta_loop():
    c = random_candles(3, 3000)
    ours = wilder_atr(*(c[k].to_numpy() for k in ("high", "low", "close")), 14)
    ref = ta.volatility.AverageTrueRange(c["high"], c["low"], c["close"], 14).average_true_range()
    assert np.isnan(ours[:13]).all()  # ta writes 0 there, which reads as a real value
    np.testing.assert_allclose(ours[13:], ref.to_numpy()[13:], rtol=1e-12)


def test_degenerate_candles_give_no_nan_or_inf_after_warmup():
    c = random_candles(11, 3000)
    c.loc[500:540, ["open", "high", "low", "close"]] = 100.0  # 40 identical flat candles
    c.loc[500:540, "volume"] = 0.0
    f = compute_features(c)
    values = f[list(FEATURE_CHANNELS)].to_numpy()
    assert not np.isinf(values).any()
    assert not np.isnan(values[~f["warmup"].to_numpy()]).any()
    assert (f.loc[500:540, "body_ratio"] == 0).all()
    assert set(np.unique(f.loc[~f["warmup"], "obv_direction"])) <= {-1.0, 0.0, 1.0}


def test_warmup_rows_are_marked_not_zero_filled(feats):
    assert feats["warmup"].iloc[:WARMUP_ROWS].all()
    assert not feats["warmup"].iloc[WARMUP_ROWS:].any()
    assert feats["rsi_14"].iloc[:13].isna().all()  # undefined stays NaN


def test_gap_minutes_show_outages():
    c = random_candles(5, 600).drop(index=range(300, 330)).reset_index(drop=True)
    f = compute_features(c)
    assert np.isnan(f["gap_minutes"].iloc[0])
    assert f["gap_minutes"].iloc[300] == 31
    assert (f["gap_minutes"].drop(index=[0, 300]) == 1).all()


def test_changing_the_future_never_changes_the_past():
    """Causality: perturb every candle after t; every channel at or before t is unchanged."""
    c = random_candles(21, 1500)
    base = compute_features(c)
    rng = np.random.default_rng(0)
    for t in (450, 800, 1200):
        later = c.copy()
        scale = rng.uniform(0.5, 1.5, size=(len(c) - t - 1, 1))
        cols = ["open", "high", "low", "close", "volume"]
        later.loc[t + 1 :, cols] = later.loc[t + 1 :, cols].to_numpy() * scale
        changed = compute_features(later)
        pd.testing.assert_frame_equal(changed.iloc[: t + 1], base.iloc[: t + 1])
        assert not changed.iloc[t + 1 :].equals(base.iloc[t + 1 :])


def _monthly(c: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    parts, bounds = [], [0, *cuts, len(c)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        history = c.iloc[:a] if a else None
        parts.append(compute_features(c.iloc[a:b].reset_index(drop=True), history=history))
    return pd.concat(parts, ignore_index=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(WARMUP_ROWS + 50, 2500),
    cut_fractions=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=3),
)
def test_partition_invariance(seed, n, cut_fractions):
    """Months computed with their history, concatenated, equal the whole-series features."""
    c = random_candles(seed, n)
    cuts = sorted({int(f * n) for f in cut_fractions})
    whole = compute_features(c)
    pieces = _monthly(c, cuts)
    pd.testing.assert_series_equal(pieces["warmup"], whole["warmup"])
    for name in FEATURE_CHANNELS:
        a, b = pieces[name].to_numpy(np.float64), whole[name].to_numpy(np.float64)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        ok = ~np.isnan(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=1e-6, atol=1e-9, err_msg=name)


def test_real_month_boundary_is_seamless():
    jan_feb = synthetic("2024-01-01", (31 + 29) * 1440)
    split = 31 * 1440
    pieces = _monthly(jan_feb, [split])
    whole = compute_features(jan_feb)
    for name in FEATURE_CHANNELS:
        a, b = pieces[name].to_numpy(np.float64), whole[name].to_numpy(np.float64)
        ok = ~np.isnan(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=1e-6, atol=1e-9, err_msg=name)


def test_empty_month_gives_empty_frame():
    out = compute_features(random_candles(1, 10).iloc[:0])
    assert out.empty
    assert list(out.columns) == ["timestamp", *FEATURE_CHANNELS, "warmup", "gap_minutes"]

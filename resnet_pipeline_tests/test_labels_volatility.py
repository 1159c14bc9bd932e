"""Label variants (SPEC 14): the volatility-scaled threshold, its causality, exactness across
months, stability across regimes, and the default rule unchanged."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.labels import (
    DOWN,
    NEUTRAL,
    UP,
    LabelConfig,
    compute_labels,
    trailing_volatility,
)
from resnet_pipeline_tests._features_helpers import random_candles

SMALL = LabelConfig(forward_window=5, vol_k=0.7, vol_window=60, vol_min_returns=30)


def _with_gaps(seed: int, n: int, gaps: int) -> pd.DataFrame:
    """random_candles with ``gaps`` short outages (rows removed)."""
    c = random_candles(seed, n)
    rng = np.random.default_rng(seed + 1)
    drop = set()
    for start in rng.integers(0, n, gaps):
        drop.update(range(int(start), int(start) + int(rng.integers(1, 30))))
    return c.drop(index=[i for i in drop if i < n]).reset_index(drop=True)


def _walk(sigma: float, minutes: int, start: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, sigma, minutes)))
    ts = pd.date_range(start, periods=minutes, freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "close": close})


def _spec5_reference(candles: pd.DataFrame) -> list:
    """SPEC 5 written out minute by minute: close 12 minutes later, or no label."""
    close_at = dict(zip(candles["timestamp"], candles["close"], strict=True))
    out = []
    for ts, close in close_at.items():
        later = close_at.get(ts + pd.Timedelta(minutes=12))
        if later is None:
            out.append(None)
            continue
        r = later / close - 1
        out.append(UP if r > 0.002 else DOWN if r < -0.002 else NEUTRAL)
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 600), gaps=st.integers(0, 4))
def test_default_config_is_the_spec5_rule(seed, n, gaps):
    c = _with_gaps(seed, n, gaps)
    got = compute_labels(c)["label"]
    assert [None if pd.isna(x) else int(x) for x in got] == _spec5_reference(c)
    assert LabelConfig() == LabelConfig(forward_window=12, threshold=0.002, vol_k=None)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(80, 500), gaps=st.integers(0, 3))
def test_sigma_matches_a_rolling_std_of_consecutive_minute_returns(seed, n, gaps):
    c = _with_gaps(seed, n, gaps)
    consecutive = c["timestamp"].diff() == pd.Timedelta(minutes=1)
    returns = np.log(c["close"]).diff().where(consecutive)
    expected = (
        pd.Series(returns.to_numpy(), index=c["timestamp"])
        .rolling("60min", min_periods=30)
        .std()
        .to_numpy()
    )
    got = trailing_volatility(c, 60, 30)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_a_jump_across_a_gap_is_not_a_one_minute_return():
    c = _walk(0.001, 200, "2024-01-01", seed=1)
    gapped = c.drop(index=range(100, 110)).reset_index(drop=True)
    jumped = gapped.copy()
    jumped.loc[100:, "close"] *= 1.5  # the whole move happens during the outage
    sigma = trailing_volatility(jumped, 60, 30)
    np.testing.assert_allclose(sigma, trailing_volatility(gapped, 60, 30), rtol=1e-9)
    assert np.nanmax(sigma) < 0.002  # a log(1.5) = 0.41 return in the window would dominate it


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(100, 500),
    cut=st.floats(0.1, 0.9),
    drop_after=st.booleans(),
)
def test_volatility_labels_use_no_future_data(seed, n, cut, drop_after):
    c = _with_gaps(seed, n, 2)
    t = c["timestamp"].iloc[int(cut * len(c))]
    changed = c.copy()
    after = changed["timestamp"] > t
    rng = np.random.default_rng(seed)
    changed.loc[after, "close"] *= np.exp(rng.normal(0, 0.05, int(after.sum())))
    if drop_after:
        changed = changed[~after | (rng.random(len(changed)) < 0.5)].reset_index(drop=True)
    kept = (c["timestamp"] <= t).to_numpy()
    sigma, sigma_changed = trailing_volatility(c, 60, 30), trailing_volatility(changed, 60, 30)
    np.testing.assert_array_equal(sigma[kept], sigma_changed[: kept.sum()])
    settled = (c["timestamp"] <= t - pd.Timedelta(minutes=SMALL.forward_window)).to_numpy()
    before = compute_labels(c, config=SMALL).iloc[settled.nonzero()[0]]
    after_change = compute_labels(changed, config=SMALL).iloc[: settled.sum()]
    pd.testing.assert_frame_equal(before, after_change, check_exact=True)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(150, 900),
    cuts=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=3),
    gaps=st.integers(0, 3),
)
def test_months_with_history_equal_the_whole_series(seed, n, cuts, gaps):
    c = _with_gaps(seed, n, gaps)
    bounds = [0, *sorted({int(x * len(c)) for x in cuts}), len(c)]
    parts = [
        compute_labels(
            c.iloc[a:b].reset_index(drop=True),
            following=c.iloc[b:].reset_index(drop=True),
            config=SMALL,
            history=c.iloc[:a].reset_index(drop=True),
        )
        for a, b in zip(bounds, bounds[1:], strict=False)
        if b > a
    ]
    whole = compute_labels(c, config=SMALL)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole, check_exact=True)
    sigmas = [
        trailing_volatility(c.iloc[a:b], 60, 30, history=c.iloc[max(a - 60, 0) : a])
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    np.testing.assert_array_equal(np.concatenate(sigmas), trailing_volatility(c, 60, 30))


def test_history_beyond_the_window_is_enough():
    c = _walk(0.001, 600, "2024-01-31 20:00", seed=3)
    month = c[c["timestamp"] >= "2024-02-01"].reset_index(drop=True)
    earlier = c[c["timestamp"] < "2024-02-01"]
    tail = earlier[earlier["timestamp"] >= month["timestamp"].iloc[0] - pd.Timedelta(minutes=60)]
    assert SMALL.history_minutes == 60 and LabelConfig().history_minutes == 0
    pd.testing.assert_frame_equal(
        compute_labels(month, config=SMALL, history=tail),
        compute_labels(month, config=SMALL, history=earlier),
        check_exact=True,
    )


def test_too_little_history_means_no_label_not_neutral():
    c = _walk(0.001, 200, "2024-01-01", seed=4)
    out = compute_labels(c, config=SMALL)
    # the window ending at row i holds i consecutive returns: sigma needs 30
    assert out["label"].iloc[:30].isna().all()
    assert out["label"].iloc[30:-5].notna().all()
    assert out["future_return"].isna().equals(out["label"].isna())


def test_threshold_scales_with_trailing_volatility():
    c = _walk(0.001, 300, "2024-01-01", seed=5)
    sigma = trailing_volatility(c, 60, 30)
    out = compute_labels(c, config=SMALL)
    bar = SMALL.vol_k * sigma * math.sqrt(SMALL.forward_window)
    known = out["label"].notna().to_numpy()
    r = out["future_return"].to_numpy()
    expected = np.where(r > bar, UP, np.where(r < -bar, DOWN, NEUTRAL))
    np.testing.assert_array_equal(out["label"].to_numpy()[known].astype(int), expected[known])
    assert len(set(expected[known])) == 3


def test_class_shares_are_stable_across_regimes_with_the_volatility_rule():
    """A quiet and a volatile week (per-minute sigma 0.04% vs 0.3%): the fixed 0.2% rule's
    Neutral share swings by far more than the volatility-scaled rule's."""
    quiet = _walk(0.0004, 7 * 1440, "2024-01-01", seed=6)
    volatile = _walk(0.003, 7 * 1440, "2024-01-08", seed=7)
    volatile["close"] *= quiet["close"].iloc[-1] / volatile["close"].iloc[0]
    both = pd.concat([quiet, volatile], ignore_index=True)

    def neutral_shares(config: LabelConfig) -> tuple[float, float]:
        labels = compute_labels(both, config=config).set_index("timestamp")["label"]
        return tuple(
            float((part.dropna() == NEUTRAL).mean())
            for part in (labels[:"2024-01-07 23:59"], labels["2024-01-09":])
        )

    fixed_quiet, fixed_volatile = neutral_shares(LabelConfig())
    vol_quiet, vol_volatile = neutral_shares(LabelConfig(vol_k=0.5))
    assert fixed_quiet - fixed_volatile > 0.5
    assert abs(vol_quiet - vol_volatile) < 0.05
    # k = 0.5 leaves about P(|Z| < 0.5) = 38% Neutral in any regime
    assert 0.30 < vol_quiet < 0.46 and 0.30 < vol_volatile < 0.46


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("forward_window", 0),
        ("forward_window", 2.5),
        ("threshold", 1.5),
        ("vol_k", 0.0),
        ("vol_k", math.inf),
        ("vol_window", 1),
        ("vol_min_returns", 1),
        ("vol_min_returns", 2000),
    ],
)
def test_bad_label_variant_names_the_field_and_an_example(field, value):
    with pytest.raises(ValueError, match=rf"LabelConfig\.{field}=.*e\.g\. {field}="):
        LabelConfig(**{field: value})

"""Channel families: each against a direct reference, leak-free with its warm-up (partition
invariance and causality for every family), the registry beside SPEC 4, and selection."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.families import (
    ALL_CHANNELS,
    FAMILIES,
    FAMILY_BY_NAME,
    compute_channels,
)
from resnet_pipeline.features.selection import select_channels
from resnet_pipeline_tests._features_helpers import random_candles, synthetic

SPEC_FILE = Path(__file__).resolve().parents[1] / "docs" / "SPEC.md"
OTHER_LEAD_MINUTES = 30


def _with_order_flow(candles: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return candles.assign(
        taker_buy_volume=candles["volume"] * rng.uniform(0, 1, len(candles)),
        trades=rng.poisson(50, len(candles)).astype(np.float64),
    )


def _drop(candles: pd.DataFrame, seed: int, share: float) -> pd.DataFrame:
    """Candles with a few missing minutes and one longer outage."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(candles)) >= share
    if len(candles) > 200:
        start = int(rng.integers(50, len(candles) - 100))
        keep[start : start + int(rng.integers(5, 40))] = False
    keep[0] = True
    return candles[keep].reset_index(drop=True)


def _pair(seed: int, n: int, gaps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A traded series with order flow and gaps, and another symbol that starts a little
    earlier, with gaps of its own."""
    traded = _drop(_with_order_flow(random_candles(seed, n), seed), seed + 1, gaps)
    start = pd.Timestamp("2024-03-31 20:00") - pd.Timedelta(minutes=OTHER_LEAD_MINUTES)
    other = random_candles(seed + 2, n + OTHER_LEAD_MINUTES, start=str(start))
    return traded, _drop(other, seed + 3, gaps)


def _family_frame(name: str, candles, history=None, other=None) -> pd.DataFrame:
    family = FAMILY_BY_NAME[name]
    return family.compute(candles.reset_index(drop=True), history, other)


# -- the registry ----------------------------------------------------------------------------


def test_the_registry_names_each_channel_once_and_spec_is_the_stored_features():
    assert len(ALL_CHANNELS) == len(set(ALL_CHANNELS))
    assert FAMILY_BY_NAME["spec"].channels == FEATURE_CHANNELS
    candles = random_candles(4, 900)
    stored = compute_features(candles.iloc[500:].reset_index(drop=True), candles.iloc[:500])
    family = _family_frame("spec", candles.iloc[500:], candles.iloc[:500])
    pd.testing.assert_frame_equal(family, stored[[*FEATURE_CHANNELS, "warmup"]])


def _spec_rows() -> dict[str, tuple[list[str], int]]:
    """SPEC 4's table of channel families: family -> (channels named, history minutes)."""
    text = SPEC_FILE.read_text(encoding="utf-8")
    section = text.split("### Channel families", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (\d+) \|", section, flags=re.MULTILINE)
    return {name: (re.findall(r"`(\w+)`", chans), int(minutes)) for name, chans, minutes in rows}


def test_each_family_has_its_spec_entry():
    rows = _spec_rows()
    assert list(rows) == [f.name for f in FAMILIES]
    for family in FAMILIES:
        channels, minutes = rows[family.name]
        assert minutes == family.history_minutes, family.name
        if family.name != "spec":  # the 15 are SPEC 4's own table
            assert channels == list(family.channels), family.name


# -- each family against a direct reference ----------------------------------------------------


def _by_time(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.set_index(candles["timestamp"].dt.tz_convert("UTC"))


def test_multi_timeframe_equals_clock_window_aggregates():
    c = _drop(random_candles(8, 3000), 9, 0.03)
    got = _family_frame("multi_timeframe", c)
    s = _by_time(c)
    for k in (5, 15, 60):
        window = s.rolling(f"{k}min")  # the minutes (t - k, t]
        first_open = window["open"].apply(lambda w: w[0], raw=True)
        volume = window["volume"].sum()
        mean20 = s["volume"].rolling(f"{20 * k}min").sum() / 20
        expected = {
            f"log_return_{k}m": np.log(s["close"] / first_open),
            f"range_{k}m": (window["high"].max() - window["low"].min()) / s["close"],
            f"volume_ratio_{k}m": (volume / mean20).where(mean20 > 0, 1.0),
        }
        defined = ~got["warmup"].to_numpy()
        for name, ref in expected.items():
            np.testing.assert_allclose(
                got[name].to_numpy(np.float64)[defined],
                ref.to_numpy()[defined],
                rtol=2e-6,
                atol=1e-9,
                err_msg=name,
            )
    minutes = (c["timestamp"] - c["timestamp"].iloc[0]).dt.total_seconds() / 60
    np.testing.assert_array_equal(got["warmup"], minutes < 1200)
    assert got.loc[got["warmup"], "range_5m"].isna().all()


def test_calendar_is_the_minute_of_day_and_weekday_on_circles():
    c = random_candles(1, 3000, start="2024-03-31 22:00")  # a Sunday evening into Monday
    got = _family_frame("calendar", c)
    ts = c["timestamp"]
    minute = ts.dt.hour * 60 + ts.dt.minute
    np.testing.assert_allclose(
        got["minute_of_day_sin"], np.sin(2 * np.pi * minute / 1440), atol=1e-7
    )
    np.testing.assert_allclose(
        got["day_of_week_cos"], np.cos(2 * np.pi * ts.dt.day_of_week / 7), atol=1e-7
    )
    midnight = ts == pd.Timestamp("2024-04-01", tz="UTC")
    assert got.loc[midnight, "minute_of_day_cos"].item() == 1.0
    assert got.loc[midnight, "day_of_week_sin"].item() == 0.0  # Monday
    assert not got["warmup"].any()


def test_cross_asset_reads_the_other_symbol_on_the_same_minutes():
    traded, other = _pair(12, 800, 0.05)
    got = _family_frame("cross_asset", traded, other=other)
    o = _by_time(other)
    step = o.index.to_series().diff() == pd.Timedelta(minutes=1)
    log_return = np.log(o["close"] / o["close"].shift(1)).where(step)
    ratio = o["volume"] / o["volume"].rolling("20min").mean()
    at = pd.DatetimeIndex(traded["timestamp"])
    expected_return = log_return.reindex(at).to_numpy()
    expected_ratio = (
        ratio.where(o["volume"].rolling("20min").mean() > 0, 1.0).reindex(at).to_numpy()
    )
    missing = ~at.isin(o.index)
    assert missing.any() and np.isnan(got["cross_log_return"].to_numpy()[missing]).all()
    defined = ~got["warmup"].to_numpy()
    for name, ref in (
        ("cross_log_return", expected_return),
        ("cross_volume_ratio", expected_ratio),
    ):
        a = got[name].to_numpy(np.float64)[defined]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(ref[defined]), err_msg=name)
        ok = ~np.isnan(a)
        np.testing.assert_allclose(a[ok], ref[defined][ok], rtol=1e-6, atol=1e-9, err_msg=name)


def test_order_flow_is_the_taker_share_and_the_trade_count_or_null():
    c = _with_order_flow(random_candles(3, 500), 3)
    got = _family_frame("order_flow", c)
    traded = c["volume"] > 0
    np.testing.assert_allclose(
        got["taker_buy_share"][traded], (c["taker_buy_volume"] / c["volume"])[traded], rtol=1e-6
    )
    assert (got["taker_buy_share"][~traded] == 0.5).all() and (~traded).any()
    np.testing.assert_array_equal(got["trade_count"], c["trades"].astype(np.float32))
    without = _family_frame("order_flow", c.drop(columns=["taker_buy_volume", "trades"]))
    assert without[["taker_buy_share", "trade_count"]].isna().all().all()


# -- leak-free with warm-up, for every family --------------------------------------------------


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    x, y = a[name].to_numpy(np.float64), b[name].to_numpy(np.float64)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=name)
    ok = ~np.isnan(y)
    np.testing.assert_allclose(x[ok], y[ok], rtol=1e-6, atol=1e-9, err_msg=name)


def _monthly(family: str, c: pd.DataFrame, other: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    parts, bounds = [], [0, *cuts, len(c)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        history = c.iloc[:a] if a else None
        parts.append(_family_frame(family, c.iloc[a:b], history, other))
    return pd.concat(parts, ignore_index=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1300, 2600),
    cut_fractions=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=3),
    gaps=st.sampled_from([0.0, 0.02]),
)
def test_partition_invariance_of_every_family(seed, n, cut_fractions, gaps):
    """Months computed after their history, concatenated, equal the whole series."""
    traded, other = _pair(seed, n, gaps)
    cuts = sorted({int(f * len(traded)) for f in cut_fractions} - {0})
    for family in FAMILIES:
        whole = _family_frame(family.name, traded, other=other)
        pieces = _monthly(family.name, traded, other, cuts)
        pd.testing.assert_series_equal(pieces["warmup"], whole["warmup"], obj=family.name)
        for name in family.channels:
            _assert_same(pieces, whole, name)


def test_a_real_month_boundary_is_seamless_for_every_family():
    jan_feb = synthetic("2024-01-25", 14 * 1440)
    eth = synthetic("2024-01-25", 14 * 1440, "ETHUSDT")
    split = int((jan_feb["timestamp"] < pd.Timestamp("2024-02-01", tz="UTC")).sum())
    everything = tuple(ALL_CHANNELS)
    whole = compute_channels(everything, jan_feb, other=eth)
    feb = compute_channels(everything, jan_feb.iloc[split:], jan_feb.iloc[:split], other=eth)
    tail = whole.iloc[split:].reset_index(drop=True)
    assert not feb["warmup"].any()
    for name in everything:
        _assert_same(feb, tail, name)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    t_fraction=st.floats(0.5, 0.95),  # past the longest warm-up (1200 minutes)
    drop_later=st.booleans(),
)
def test_no_channel_uses_a_candle_after_t(seed, t_fraction, drop_later):
    """Perturb (or drop) every candle after t, of both symbols: nothing at or before t moves."""
    traded, other = _pair(seed, 2800, 0.01)
    t = int(t_fraction * (len(traded) - 1))
    cutoff = traded["timestamp"].iloc[t]
    rng = np.random.default_rng(seed)

    def later(frame: pd.DataFrame) -> pd.DataFrame:
        after = frame["timestamp"] > cutoff
        if drop_later:
            return frame[~after | (rng.random(len(frame)) < 0.5)].reset_index(drop=True)
        changed = frame.copy()
        values = [c for c in frame.columns if c != "timestamp"]
        scale = rng.uniform(0.5, 1.5, size=(int(after.sum()), len(values)))
        changed.loc[after, values] = changed.loc[after, values].to_numpy() * scale
        return changed

    base = compute_channels(ALL_CHANNELS, traded, other=other)
    moved_traded, moved_other = later(traded), later(other)
    moved = compute_channels(ALL_CHANNELS, moved_traded, other=moved_other)
    assert base.iloc[: t + 1][list(ALL_CHANNELS)].iloc[-1].notna().sum() > 20
    pd.testing.assert_frame_equal(moved.iloc[: t + 1], base.iloc[: t + 1])
    if not drop_later:
        for family in FAMILIES:
            if family.name != "calendar":  # the clock does not depend on the candles
                cols = list(family.channels)
                assert not moved.iloc[t + 1 :][cols].equals(base.iloc[t + 1 :][cols])


# -- selection ---------------------------------------------------------------------------------


def test_selection_orders_channels_as_the_registry_does():
    picked = select_channels(["calendar", "rsi_14", "spec", "log_return_5m"], "BTCUSDT")
    assert picked.channels == (
        *FEATURE_CHANNELS,
        "log_return_5m",
        *FAMILY_BY_NAME["calendar"].channels,
    )
    assert picked.families == ("spec", "multi_timeframe", "calendar")
    assert picked.history_minutes == 1440 and not picked.needs_order_flow
    assert select_channels(["calendar", "range_60m"], "BTCUSDT").history_minutes == 1200
    assert select_channels(["close", "open"], "BTCUSDT").channels == ("open", "close")
    crossed = select_channels(["cross_asset", "order_flow"], "BTCUSDT", cross_symbol="ETHUSDT")
    assert crossed.cross_symbol == "ETHUSDT" and crossed.needs_order_flow
    assert crossed.channels == (
        "cross_log_return",
        "cross_volume_ratio",
        "taker_buy_share",
        "trade_count",
    )


@pytest.mark.parametrize(
    ("names", "cross", "message"),
    [
        ([], None, r"no channel selected .*families: spec, multi_timeframe, calendar"),
        ("spec", None, r"no channel selected \('spec'\): give a list"),
        (["spec", "rsi_99"], None, r"unknown channel or family 'rsi_99': families: spec.*rsi_14"),
        (["cross_asset"], None, r"read another stored symbol: name it with cross_symbol"),
        (["cross_asset"], "BTCUSDT", r"cross_symbol 'BTCUSDT' is the traded symbol itself"),
        (["spec"], "ETHUSDT", r"cross_symbol 'ETHUSDT' is given but no cross_asset channel"),
    ],
)
def test_bad_selections_are_refused_naming_the_value(names, cross, message):
    with pytest.raises(ValueError, match=message):
        select_channels(names, "BTCUSDT", cross_symbol=cross)


def test_computing_needs_known_channels_and_the_other_symbol():
    c = random_candles(2, 100)
    with pytest.raises(ValueError, match=r"unknown channel\(s\) \['nope'\]"):
        compute_channels(("close", "nope"), c)
    with pytest.raises(ValueError, match="cross_asset family needs the other symbol's candles"):
        compute_channels(("cross_log_return",), c)
    picked = compute_channels(("trade_count", "close"), c)
    assert list(picked.columns) == ["timestamp", "trade_count", "close", "warmup"]

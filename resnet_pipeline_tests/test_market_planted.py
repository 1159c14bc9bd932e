"""The planted market (market.planted): the default market unchanged, the pattern where and
as strong as documented, invisible to the newest row, and selectable per symbol."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from resnet_pipeline.definitions import candle_source_for
from resnet_pipeline.defs.ingestion.raw_candles import ASSET
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, PRICE_CHANNELS
from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.labels import DOWN, UP, compute_labels
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.planted import DEFAULT_PATTERN, HOURS, PlantedPattern
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.settings import load_settings
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import pipeline_resources

raw_candles = asset("raw_candles")

START = pd.Timestamp("2024-01-01", tz="UTC")
PLANTED = "PLANTUSDT"


def _checksum(candles: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(candles["timestamp"].dt.tz_localize(None).to_numpy().view(np.int64).tobytes())
    for column in ("open", "high", "low", "close", "volume"):
        digest.update(candles[column].to_numpy(np.float64).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("seed", "symbol", "expected"),
    [  # taken before the planted option existed
        (0, "BTCUSDT", "8b6074dbba3fa1657375b5e726a5652003fe0914106bfb6e35cf68b1a7b673c8"),
        (3, PLANTED, "ad9f8081f0b5390ab4b4a5d4393249b13a1b4d6af526ab203f7806a24796255d"),
    ],
)
def test_the_default_market_is_bit_identical(seed, symbol, expected):
    begin = pd.Timestamp("2024-02-27", tz="UTC")
    end = begin + pd.Timedelta(days=4)
    assert _checksum(SyntheticSource(seed).fetch(symbol, begin, end)) == expected
    beside_a_planted_one = SyntheticSource(seed, planted_symbols=["OTHERUSDT"])
    assert _checksum(beside_a_planted_one.fetch(symbol, begin, end)) == expected
    assert beside_a_planted_one.planted_events(symbol, begin, end).empty


def _pair(days: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, SyntheticSource]:
    planted = SyntheticSource(seed, planted_symbols=[PLANTED])
    end = START + pd.Timedelta(days=days)
    return (
        SyntheticSource(seed).fetch(PLANTED, START, end),
        planted.fetch(PLANTED, START, end),
        planted,
    )


def test_the_motif_and_the_move_are_where_documented():
    plain, planted, source = _pair(3)
    events = source.planted_events(PLANTED, START, START + pd.Timedelta(days=3))
    minute = pd.Series(np.arange(len(plain)), index=plain["timestamp"])
    quote = planted["volume"] * planted["close"] / (plain["volume"] * plain["close"])
    ratio = quote.to_numpy()  # volume in quote currency: the same turnover, times the motif
    expected_ratio = np.ones(len(plain))
    step = np.zeros(len(plain))
    motif = np.asarray(DEFAULT_PATTERN.volume_motif)
    for t, sign, followed, delay in zip(
        minute[events["timestamp"]],
        events["direction"],
        events["followed"],
        events["delay"],
        strict=True,
    ):
        first = t - DEFAULT_PATTERN.span + 1
        expected_ratio[first : first + len(motif)] = motif if sign > 0 else motif[::-1]
        if followed:
            move = slice(t + 1 + delay, t + 1 + delay + DEFAULT_PATTERN.move_minutes)
            step[move] = sign * DEFAULT_PATTERN.move / DEFAULT_PATTERN.move_minutes
    np.testing.assert_allclose(ratio, expected_ratio, rtol=1e-5)
    # returns: the planted moves, plus one constant per day (the bridge to the next midnight)
    extra = np.log(planted["close"]).diff() - np.log(plain["close"]).diff() - step
    per_day = pd.Series(extra.to_numpy(), index=plain["timestamp"]).groupby(
        plain["timestamp"].dt.date.to_numpy()
    )
    assert (per_day.max() - per_day.min()).max() < 1e-12
    assert len(events) and events["followed"].any() and (~events["followed"]).any()


def test_documented_frequency_and_strength():
    """Every hour holds a motif with chance ``rate``; after an up-motif the label at t is Up
    far more often than its base rate (and mirrored for a down-motif)."""
    days = 60
    _, planted, source = _pair(days)
    events = source.planted_events(PLANTED, START, START + pd.Timedelta(days=days))
    expected = DEFAULT_PATTERN.rate * HOURS * days
    assert abs(len(events) - expected) < 4 * np.sqrt(expected * (1 - DEFAULT_PATTERN.rate) + 1)
    assert abs(events["followed"].mean() - DEFAULT_PATTERN.follow) < 0.05
    labels = compute_labels(planted).set_index("timestamp")["label"]
    at_t = labels.reindex(events["timestamp"]).to_numpy()
    up = events["direction"].to_numpy() > 0
    base_up, base_down = (labels.dropna() == UP).mean(), (labels.dropna() == DOWN).mean()
    p_up, p_down = (at_t[up] == UP).mean(), (at_t[~up] == DOWN).mean()
    assert p_up > 0.65 and p_down > 0.65
    assert p_up > 2 * base_up and p_down > 2 * base_down
    assert 0.15 < base_up < 0.4 and 0.15 < base_down < 0.4


def test_the_newest_row_does_not_reveal_the_direction_but_the_sequence_does():
    days = 60
    _, planted, source = _pair(days)
    events = source.planted_events(PLANTED, START, START + pd.Timedelta(days=days))
    rows = compute_features(planted).set_index("timestamp").loc[events["timestamp"]]
    x = rows[list(FEATURE_CHANNELS)].to_numpy(np.float64)
    x[:, : len(PRICE_CHANNELS)] = x[:, : len(PRICE_CHANNELS)] / x[:, [3]] - 1  # as in a window
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    up = events["direction"].to_numpy() > 0
    half = len(x) // 2
    newest = LogisticRegression(max_iter=1000).fit(x[:half], up[:half])
    assert roc_auc_score(up[half:], newest.predict_proba(x[half:])[:, 1]) < 0.58
    volume = np.log(planted["volume"].to_numpy())
    t = planted.index[planted["timestamp"].isin(events["timestamp"])].to_numpy()
    first = t - DEFAULT_PATTERN.span + 1
    half_motif = len(DEFAULT_PATTERN.volume_motif) // 2
    older = np.mean([volume[first + i] for i in range(half_motif)], axis=0)
    newer = np.mean([volume[first + half_motif + i] for i in range(half_motif)], axis=0)
    assert roc_auc_score(up, older - newer) > 0.95


def test_planted_candles_join_across_months_and_sub_ranges():
    source = SyntheticSource(5, planted_symbols=[PLANTED])
    jan_feb = source.fetch(PLANTED, START, pd.Timestamp("2024-03-01", tz="UTC"))
    jan = source.fetch(PLANTED, START, pd.Timestamp("2024-02-01", tz="UTC"))
    feb = SyntheticSource(5, planted_symbols=[PLANTED]).fetch(
        PLANTED, pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC")
    )
    pd.testing.assert_frame_equal(pd.concat([jan, feb], ignore_index=True), jan_feb)
    assert (jan_feb["open"].to_numpy()[1:] == jan_feb["close"].to_numpy()[:-1]).all()
    split = source.planted_events(PLANTED, START, pd.Timestamp("2024-02-01 12:00", tz="UTC"))
    whole = source.planted_events(PLANTED, START, pd.Timestamp("2024-03-01", tz="UTC"))
    pd.testing.assert_frame_equal(split, whole.iloc[: len(split)])


@pytest.mark.parametrize(
    ("field", "value"),
    [("rate", 1.5), ("follow", -0.1), ("move_minutes", 0), ("quiet_minutes", 60)],
)
def test_bad_pattern_is_refused(field, value):
    with pytest.raises(ValueError, match="PlantedPattern"):
        PlantedPattern(**{field: value})


def test_the_setting_plants_only_the_chosen_symbols(tmp_path: Path):
    settings = load_settings(
        {
            "RESNET_SOURCE": "synthetic",
            "RESNET_SYMBOLS": "BTCUSDT,ETHUSDT",
            "RESNET_PLANTED_SYMBOLS": "BTCUSDT",
        }
    )
    source = candle_source_for(settings)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        result = dg.materialize(
            [raw_candles],
            partition_key=f"2024-01-01|{symbol}",
            resources=pipeline_resources(tmp_path, source),
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
    jan = pd.Timestamp("2024-02-01", tz="UTC")
    layout = Layout.at(tmp_path)
    stored = {
        s: read_parquet(layout.partition(ASSET, s, START.date())) for s in ("BTCUSDT", "ETHUSDT")
    }
    planted = SyntheticSource(0, planted_symbols=["BTCUSDT"])
    pd.testing.assert_frame_equal(stored["BTCUSDT"], planted.fetch("BTCUSDT", START, jan))
    assert not stored["BTCUSDT"]["volume"].equals(
        SyntheticSource(0).fetch("BTCUSDT", START, jan)["volume"]
    )
    pd.testing.assert_frame_equal(
        stored["ETHUSDT"], SyntheticSource(0).fetch("ETHUSDT", START, jan)
    )

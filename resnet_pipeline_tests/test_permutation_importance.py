"""Permutation importance (ml.evaluation.permutation_importance): a channel the model does not
read drops exactly 0, the channel it reads ranks first, a family of one channel scores as the
channel, seeds reproduce, and the trees' importances through scikit-learn find their channel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.families import FAMILY_OF_CHANNEL
from resnet_pipeline.knobs import KnobError
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.evaluation.baselines import TreesBaseline, last_rows
from resnet_pipeline.ml.evaluation.importance_config import ImportanceConfig
from resnet_pipeline.ml.evaluation.permutation_importance import (
    COLUMNS,
    METRICS,
    family_groups,
    importance_records,
    trees_importance,
    window_importance,
)

WINDOW = 16
ONE_CALENDAR = (*FEATURE_CHANNELS, "minute_of_day_sin")  # a family of one channel beside spec


def _splits(channels: tuple[str, ...], read: str, n: int = 1_200, seed: int = 0) -> DatasetSplits:
    """Normalized rows of random channels whose ``read`` channel carries the label: its value
    at a window's newest row is the label plus noise. Labels 0..2, every row a sample end."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n).astype(np.int64)
    matrix = rng.normal(size=(n, len(channels))).astype(np.float32)
    matrix[:, channels.index(read)] = labels + rng.normal(0, 0.3, n)
    ends = np.arange(WINDOW - 1, n, dtype=np.int64)
    half = len(ends) // 2
    return DatasetSplits(
        matrix=matrix,
        labels=labels,
        timestamps=pd.date_range("2024-06-01", periods=n, freq="1min").to_numpy(),
        train_ends=ends[:half],
        val_ends=ends[half : half + 10],
        test_ends=ends[half + 10 :],
        normalizer=Normalizer(
            np.zeros(len(channels)),
            np.ones(len(channels)),
            price_norm="zscore",
            channel_names=channels,
        ),
        config=SplitConfig(window=WINDOW, price_norm="zscore"),
        channel_names=channels,
    )


class NewestValueOf(nn.Module):
    """Reads one channel only: logits -(v - k)^2 for class k, v its value at the newest minute."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.channel = channel
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, L] -> [B, 3]
        v = x[:, self.channel, -1:]
        return -self.scale * (v - torch.arange(3, dtype=x.dtype)) ** 2


class MoveOrNotFrom(nn.Module):
    """Reads one channel as "how likely no move": Up and Down always get the same probability."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.channel = channel
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, L] -> [B, 3]
        v = x[:, self.channel, -1]
        return self.scale * torch.stack([-v, v, -v], dim=1)


def _of(frame: pd.DataFrame, kind: str, metric: str) -> pd.Series:
    chosen = frame[(frame["kind"] == kind) & (frame["metric"] == metric)]
    return chosen.set_index("name")["mean"]


def test_the_channel_read_ranks_first_and_every_ignored_channel_drops_exactly_zero():
    splits = _splits(FEATURE_CHANNELS, "volume")
    model = NewestValueOf(FEATURE_CHANNELS.index("volume"))
    frame = window_importance(model, splits, splits.test_ends, precision="fp32")
    assert list(frame.columns) == list(COLUMNS)
    for metric in METRICS:
        channels = _of(frame, "channel", metric)
        assert channels.idxmax() == "volume" and channels["volume"] > 0.1
        ignored = channels.drop("volume")
        assert (ignored == 0.0).all(), ignored[ignored != 0]
        stds = frame[(frame["metric"] == metric) & (frame["name"] != "volume")]["std"]
        assert (stds[frame["kind"] == "channel"] == 0.0).all()
        # the spec family holds volume: shuffling all 15 together loses what volume carried
        assert _of(frame, "family", metric)["spec"] == pytest.approx(channels["volume"])
    assert set(frame["shuffles"]) == {3} and set(frame["windows"]) == {len(splits.test_ends)}


def test_a_family_of_one_channel_scores_exactly_as_that_channel():
    splits = _splits(ONE_CALENDAR, "minute_of_day_sin")
    model = NewestValueOf(ONE_CALENDAR.index("minute_of_day_sin"))
    frame = window_importance(model, splits, splits.test_ends, precision="fp32")
    assert family_groups(ONE_CALENDAR) == {"spec": tuple(range(15)), "calendar": (15,)}
    for metric in METRICS:
        channel = frame[(frame["name"] == "minute_of_day_sin") & (frame["metric"] == metric)]
        family = frame[(frame["name"] == "calendar") & (frame["metric"] == metric)]
        assert channel[["mean", "std"]].to_numpy().tolist() == (
            family[["mean", "std"]].to_numpy().tolist()
        )
        assert channel["mean"].item() > 0
        assert _of(frame, "family", metric)["spec"] == 0.0


def test_a_channel_that_tells_a_move_but_not_its_direction_adds_no_direction_auc():
    splits = _splits(FEATURE_CHANNELS, "atr_14")
    neutral = splits.labels == 1
    atr = FEATURE_CHANNELS.index("atr_14")
    splits.matrix[:, atr] = neutral + np.random.default_rng(4).normal(0, 0.3, len(neutral))
    frame = window_importance(MoveOrNotFrom(atr), splits, splits.test_ends, precision="fp32")
    atr_rows = frame[(frame["name"] == "atr_14") & (frame["kind"] == "channel")]
    drop = atr_rows.set_index("metric")["mean"]
    assert drop["log_loss"] > 0.05 and drop["auc_roc_ovr"] > 0.05
    assert drop["direction_auc"] == 0.0
    assert (atr_rows.set_index("metric")["before"]["direction_auc"]) == 0.5


def test_the_same_seed_gives_the_same_figures_and_another_seed_other_shuffles():
    splits = _splits(FEATURE_CHANNELS, "rsi_14", seed=3)
    model = NewestValueOf(FEATURE_CHANNELS.index("rsi_14"))
    config = ImportanceConfig(importance_shuffles=2, importance_windows=300)
    first = window_importance(model, splits, splits.test_ends, config, seed=5, precision="fp32")
    again = window_importance(model, splits, splits.test_ends, config, seed=5, precision="fp32")
    other = window_importance(model, splits, splits.test_ends, config, seed=6, precision="fp32")
    pd.testing.assert_frame_equal(first, again)
    assert set(first["windows"]) == {300} and set(first["shuffles"]) == {2}
    rsi = first[(first["name"] == "rsi_14")]["mean"].to_numpy()
    assert not np.array_equal(rsi, other[(other["name"] == "rsi_14")]["mean"].to_numpy())


def test_the_trees_importances_come_from_scikit_learn_and_find_their_channel():
    splits = _splits(ONE_CALENDAR, "macd", n=3_000, seed=1)
    trees = TreesBaseline(seed=0).fit(
        last_rows(splits, splits.train_ends), splits.labels[splits.train_ends]
    )
    config = ImportanceConfig(importance_shuffles=3)
    frame = trees_importance(trees, splits, splits.test_ends, config, seed=2)
    again = trees_importance(trees, splits, splits.test_ends, config, seed=2)
    pd.testing.assert_frame_equal(frame, again)
    assert set(frame["predictor"]) == {"trees"}
    for metric in METRICS:
        channels = _of(frame, "channel", metric)
        assert channels.idxmax() == "macd"
        assert channels["macd"] > 10 * channels.drop("macd").abs().max()
        families = _of(frame, "family", metric)
        assert families.idxmax() == "spec"  # macd is a spec channel
        # scikit-learn's shuffles and the family's are other permutations of the same rows
        assert families["spec"] == pytest.approx(channels["macd"], rel=0.25)


def test_records_are_plain_json_values_and_bad_knobs_are_refused():
    splits = _splits(FEATURE_CHANNELS, "volume", n=400)
    model = NewestValueOf(FEATURE_CHANNELS.index("volume"))
    frame = window_importance(model, splits, splits.test_ends[:40], precision="fp32")
    records = importance_records(frame)
    assert len(records) == len(frame) and set(records[0]) == set(COLUMNS)
    assert all(type(v) in (str, int, float, type(None)) for r in records for v in r.values())
    assert any(r["metric"] == "auc_roc_ovr" for r in records)
    with pytest.raises(KnobError, match="importance_shuffles"):
        ImportanceConfig(importance_shuffles=0)
    with pytest.raises(KnobError, match="importance_windows"):
        ImportanceConfig(importance_windows=10)
    with pytest.raises(ValueError, match="no registered family"):
        family_groups(("volume", "sentiment"))
    assert FAMILY_OF_CHANNEL["volume"].name == "spec"

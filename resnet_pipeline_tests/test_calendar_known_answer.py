"""The calendar family's known answer (``market.planted.CalendarPattern``): a daily move at
04:17 UTC, up on weekdays and down at weekends, is found with the calendar channels and not
without them. Measured on a fold's predicted month with the fold's trees baseline (fitted on
the fold's training rows, as every experiment fold fits it): the direction of the event
minutes, and the permutation importance on those minutes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from resnet_pipeline.features.families import compute_channels
from resnet_pipeline.features.labels import DOWN, UP, LabelConfig, compute_labels
from resnet_pipeline.features.selection import select_channels
from resnet_pipeline.market.planted import CalendarPattern
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.ml.evaluation.baselines import fit_fold_trees, last_rows
from resnet_pipeline.ml.evaluation.importance_config import ImportanceConfig
from resnet_pipeline.ml.evaluation.permutation_importance import trees_importance
from resnet_pipeline.ml.folds.monthly_folds import (
    FoldConfig,
    build_fold,
    eligible_samples,
    fold_samples,
)

SYMBOL, PATTERN, MONTH = "CALUSDT", CalendarPattern(), date(2024, 3, 1)
FOLDS = FoldConfig(window=32)


@pytest.fixture(scope="module")
def candles() -> tuple[pd.DataFrame, pd.DataFrame]:
    source = SyntheticSource(0, planted_symbols=[SYMBOL], pattern=PATTERN)
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-04-01", tz="UTC")
    return source.fetch(SYMBOL, start - pd.Timedelta(days=2), start), source.fetch(
        SYMBOL, start, end
    )


def _event_fold(candles, families: tuple[str, ...]):
    """The trees of the March fold on ``families``, its splits and the event minutes' windows."""
    history, month_candles = candles
    channels = select_channels(families, SYMBOL).channels
    frame = compute_channels(channels, month_candles, history)
    labels = compute_labels(month_candles, None, LabelConfig())
    samples = eligible_samples(frame, labels, FOLDS.split_config(12), channels)
    splits = build_fold(
        fold_samples(samples, MONTH, FOLDS, through_month=True), MONTH, FOLDS
    ).splits
    stamp = pd.DatetimeIndex(splits.timestamps[splits.test_ends])
    events = splits.test_ends[(stamp.hour * 60 + stamp.minute == PATTERN.minute_of_day)]
    return fit_fold_trees(splits, seed=0), splits, events


def _direction_auc(trees, splits, ends) -> float:
    y, proba = splits.labels[ends], trees.predict_proba(last_rows(splits, ends))
    moved = (y == UP) | (y == DOWN)
    return roc_auc_score(y[moved] == UP, proba[moved, UP] - proba[moved, DOWN])


def test_the_calendar_family_finds_the_daily_move_and_the_spec_channels_do_not(candles):
    trees, splits, events = _event_fold(candles, ("spec", "calendar"))
    assert len(events) == 31  # one event a day in March
    with_calendar = _direction_auc(trees, splits, events)
    importance = trees_importance(
        trees, splits, events, ImportanceConfig(importance_windows=None), seed=0
    )
    direction = importance[importance["metric"] == "direction_auc"]
    families = direction[direction["kind"] == "family"].set_index("name")["mean"]
    assert families.idxmax() == "calendar" and families["calendar"] > 0.2
    assert families["calendar"] > 2 * max(families.drop("calendar").max(), 0)
    spec_trees, spec_splits, spec_events = _event_fold(candles, ("spec",))
    without = _direction_auc(spec_trees, spec_splits, spec_events)
    assert with_calendar >= 0.9 and without < with_calendar - 0.1, (with_calendar, without)
    assert np.array_equal(splits.labels[events], spec_splits.labels[spec_events])

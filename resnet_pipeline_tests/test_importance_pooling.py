"""Importances pooled over folds (ml.evaluation.importance_pooling): the t-interval on a worked
example, no interval from one fold, the ranking, and the per-fold matrix for the heatmap."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from resnet_pipeline.ml.evaluation.importance_pooling import (
    fold_matrix,
    pooled_importance,
    t_interval,
)


def _fold(values: dict[str, float], metric: str = "log_loss") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"predictor": "model", "kind": "channel", "name": n, "metric": metric, "mean": v}
            for n, v in values.items()
        ]
    )


FOLDS = {
    "2024-06": _fold({"volume": 0.10, "close": 0.01, "rsi_14": -0.02}),
    "2024-07": _fold({"volume": 0.20, "close": 0.00, "rsi_14": 0.00}),
    "2024-08": _fold({"volume": 0.30, "close": -0.01, "rsi_14": 0.05}),
}


def test_the_interval_is_students_t_across_folds_on_a_worked_example():
    # volume: mean 0.2, s = 0.1, t(0.975, 2) = 4.302653; half-width 4.302653 * 0.1 / sqrt(3)
    half = 4.302653 * 0.1 / math.sqrt(3)
    mean, low, high = t_interval([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2)
    assert (low, high) == (pytest.approx(0.2 - half, abs=1e-6), pytest.approx(0.2 + half, abs=1e-6))
    # two folds: t(0.975, 1) = 12.7062, s / sqrt(2) = |a - b| / 2
    mean, low, high = t_interval([0.1, 0.12])
    assert (low, high) == (
        pytest.approx(0.11 - 12.7062 * 0.01, abs=1e-4),
        pytest.approx(0.11 + 12.7062 * 0.01, abs=1e-4),
    )
    assert t_interval([0.3]) == (0.3, None, None)
    assert t_interval([0.3, float("nan")]) == (0.3, None, None)  # a fold without the metric


def test_pooling_ranks_by_the_mean_over_folds_with_its_interval():
    pooled = pooled_importance(FOLDS)
    assert pooled["name"].tolist() == ["volume", "rsi_14", "close"]
    assert pooled["rank"].tolist() == [1, 2, 3]
    volume = pooled.iloc[0]
    assert volume["mean"] == pytest.approx(0.2) and volume["folds"] == 3
    assert volume["low"] == pytest.approx(0.2 - 4.302653 * 0.1 / math.sqrt(3), abs=1e-6)
    close = pooled.iloc[2]
    assert close["mean"] == pytest.approx(0.0, abs=1e-12)
    assert close["low"] < 0 < close["high"]


def test_one_fold_gives_means_and_no_interval():
    pooled = pooled_importance({"2024-06": FOLDS["2024-06"]})
    assert pooled["low"].isna().all() and pooled["high"].isna().all()
    assert pooled["folds"].tolist() == [1, 1, 1]
    assert pooled["name"].tolist() == ["volume", "close", "rsi_14"]


def test_metrics_and_predictors_rank_apart():
    folds = {
        month: pd.concat([frame, _fold({"volume": -0.5, "close": 0.5}, "auc_roc_ovr")])
        for month, frame in FOLDS.items()
    }
    pooled = pooled_importance(folds)
    auc = pooled[pooled["metric"] == "auc_roc_ovr"]
    assert auc["name"].tolist() == ["close", "volume"] and auc["rank"].tolist() == [1, 2]


def test_the_fold_matrix_holds_each_folds_value_in_rank_order():
    matrix = fold_matrix(FOLDS, "model", "channel", "log_loss")
    assert matrix.index.tolist() == ["volume", "rsi_14", "close"]
    assert matrix.columns.tolist() == ["2024-06", "2024-07", "2024-08"]
    assert matrix.loc["rsi_14", "2024-08"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="no channel importances of 'trees'"):
        fold_matrix(FOLDS, "trees", "channel", "log_loss")
    with pytest.raises(ValueError, match="no fold importances"):
        pooled_importance({})

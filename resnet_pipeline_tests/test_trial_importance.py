"""What the best trial looks at (experiments.trial_importance): folds' records read back from
fold.json, the first-screen line for each reading of the interval, and the planted market's
known answer judged on the pooled ranking."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.experiments.fold_files import IMPORTANCE
from resnet_pipeline.experiments.trial_importance import (
    fold_importances,
    importance_summary,
    known_answer_failures,
    looks_at_line,
)
from resnet_pipeline.ml.evaluation.importance_pooling import pooled_importance
from resnet_pipeline.ml.evaluation.permutation_importance import COLUMNS


def _records(values: dict[str, float]) -> list[dict]:
    return [
        dict(
            zip(
                COLUMNS,
                ("model", "channel", name, "direction_auc", v, 0.0, 0.6, 3, 100),
                strict=True,
            )
        )
        for name, v in values.items()
    ]


def _fold(month: str, values: dict[str, float]) -> dict:
    return {"month": month, IMPORTANCE: _records(values)}


STEADY = [  # volume_ratio relied on in every fold, the rest near 0
    _fold("2024-07", {"volume_ratio": 0.16, "close": 0.01, "atr_14": -0.01}),
    _fold("2024-06", {"volume_ratio": 0.18, "close": 0.00, "atr_14": 0.01}),
]


def test_folds_are_read_oldest_first_and_folds_without_importances_left_out():
    folds = fold_importances([*STEADY, {"month": "2024-05", IMPORTANCE: []}, {"epochs": 2}])
    assert list(folds) == ["2024-06", "2024-07"]
    assert list(folds["2024-06"].columns) == list(COLUMNS)


def test_the_line_says_which_channel_comes_first_and_what_its_interval_says():
    summary = importance_summary("window-48@ab", STEADY)
    assert summary["line"].startswith("window-48@ab's model looks at volume_ratio first: ")
    assert "over 2 folds, relied on (95% interval across folds above 0)" in summary["line"]
    wobbly = [_fold("2024-06", {"close": 0.05}), _fold("2024-07", {"close": -0.01})]
    assert "not told apart from 0" in importance_summary("t", wobbly)["line"]
    one = pooled_importance(fold_importances(STEADY[:1]))
    assert looks_at_line("t", one).endswith("over 1 fold, one fold: no interval")
    assert importance_summary("t", [{"month": "2024-06"}]) is None


def test_the_known_answer_holds_only_for_a_volume_channel_above_zero_and_quiet_others():
    pooled = pooled_importance(fold_importances(STEADY))
    assert known_answer_failures(pooled, planted=True) == []
    assert known_answer_failures(pooled, planted=False) == [
        "['volume_ratio'] have intervals above 0 on noise"
    ]
    loud = [_fold(m, {"volume": 0.2, "atr_14": 0.1 + d}) for m, d in (("a", 0), ("b", 0.01))]
    (failure,) = known_answer_failures(pooled_importance(fold_importances(loud)), planted=True)
    assert failure == "['atr_14'] above 20% of volume's importance"
    price_first = pooled_importance({"a": pd.DataFrame(_records({"close": 0.3}))})
    assert "close ranks first" in known_answer_failures(price_first, planted=True)[0]

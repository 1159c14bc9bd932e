"""The importance pieces of the experiment report (reports.importance_figures): pictures drawn
from pooled and per-fold importances, and a table that says what each interval reads."""

from __future__ import annotations

import io
import re

import matplotlib.image as mpimg
import pandas as pd
import pytest

from resnet_pipeline.ml.evaluation.importance_pooling import pooled_importance
from resnet_pipeline.reports.importance_figures import (
    HELPS,
    NO_INTERVAL,
    NOT_APART,
    RELIED,
    importance_figures,
    importance_html,
    reading,
)
from resnet_pipeline_tests._figures import value_of


def _fold(volume: float, close: float, rsi: float, calendar: float) -> pd.DataFrame:
    rows = [
        ("channel", "volume", volume),
        ("channel", "close", close),
        ("channel", "rsi_14", rsi),
        ("channel", "minute_of_day_sin", calendar),
        ("family", "spec", volume + close),
        ("family", "calendar", calendar),
    ]
    return pd.DataFrame(
        [
            {"predictor": p, "kind": k, "name": n, "metric": m, "mean": v * s}
            for p in ("model", "trees")
            for k, n, v in rows
            for m, s in (("log_loss", 1.0), ("auc_roc_ovr", 0.5))
        ]
    )


FOLDS = {
    "2024-06": _fold(0.10, 0.001, -0.03, -0.010),
    "2024-07": _fold(0.12, -0.001, -0.02, -0.012),
    "2024-08": _fold(0.11, 0.000, 0.04, -0.011),
}


def test_the_reading_of_an_interval_across_folds():
    assert reading(0.01, 0.2) == RELIED
    assert reading(-0.2, -0.01) == HELPS
    assert reading(-0.01, 0.01) == NOT_APART
    assert reading(None, None) == NO_INTERVAL
    assert reading(float("nan"), float("nan")) == NO_INTERVAL


def test_the_table_ranks_channels_names_their_family_and_reads_their_interval():
    html = importance_html(pooled_importance(FOLDS))
    cells = re.findall(r"<tr>(.*?)</tr>", html)
    rows = [re.findall(r"<t[dh]>(.*?)</t[dh]>", c) for c in cells]
    assert rows[0] == [
        "rank",
        "channel",
        "family",
        "mean over folds",
        "95% interval across folds",
        "folds",
        "reading",
    ]
    by_channel = {r[1]: r for r in rows[1:]}
    assert [r[1] for r in rows[1:]] == ["volume", "close", "rsi_14", "minute_of_day_sin"]
    assert by_channel["volume"][2] == "spec" and by_channel["minute_of_day_sin"][2] == "calendar"
    assert value_of(by_channel["volume"][3]) == pytest.approx(0.11)
    assert by_channel["volume"][6] == RELIED
    assert by_channel["rsi_14"][6] == NOT_APART
    assert by_channel["minute_of_day_sin"][6] == HELPS
    families = importance_html(pooled_importance(FOLDS), "trees", "family", "auc_roc_ovr")
    assert "<th>family</th>" in families and "<td>calendar</td>" in families


def test_one_fold_gives_a_table_without_intervals():
    html = importance_html(pooled_importance({"2024-06": FOLDS["2024-06"]}))
    assert html.count("[no interval]") == 4 and html.count(NO_INTERVAL) == 4


def test_the_figures_are_pictures_of_every_channel_and_fold():
    figures, tables = importance_figures(FOLDS, "window-48")
    assert [f.name for f in figures] == [
        "plot_importance_model_channels",
        "plot_importance_model_families",
        "plot_importance_model_folds",
    ]
    for figure in figures:
        assert figure.png.startswith(b"\x89PNG")
        height, width = mpimg.imread(io.BytesIO(figure.png)).shape[:2]
        assert width > 300 and height > 100
    assert "3 folds" in figures[0].caption and "Student's t" in figures[0].caption
    assert [title for title, _ in tables] == [
        "Permutation importance per channel: window-48 (model)",
        "Permutation importance per family: window-48 (model)",
    ]
    single, _ = importance_figures({"2024-06": FOLDS["2024-06"]}, "window-48", "trees")
    assert "one fold: no interval" in single[0].caption
    with pytest.raises(ValueError, match="no pooled channel importances of 'logistic'"):
        importance_figures(FOLDS, "window-48", "logistic")

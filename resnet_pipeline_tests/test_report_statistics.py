"""The statistics the reports show: the light per-month metrics equal the full evaluation,
pooled AUC cannot be manufactured by per-fold constant baselines, and the verdict says
better / no different / worse / undefined with the true reason."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS
from resnet_pipeline.ml.evaluation.bootstrap import classification_draws
from resnet_pipeline.ml.evaluation.classification import classification_metrics
from resnet_pipeline.ml.evaluation.shown_metrics import SHOWN, shown_metrics
from resnet_pipeline.ml.evaluation.stitched_metrics import (
    month_ranks,
    monthly_table,
    pooled_metrics,
    verdict,
    walk_forward_summary,
)
from resnet_pipeline.number_format import number, rounded
from resnet_pipeline.verdicts import zero_trades_reason
from resnet_pipeline_tests._reference_bootstrap import reference_classification_draws


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(3, 400),
    decimals=st.sampled_from([None, 1, 2]),
    classes=st.sampled_from([1, 2, 3]),
)
def test_shown_metrics_equal_the_full_classification_metrics(seed, n, decimals, classes):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    proba = rng.dirichlet([1, 1, 1], n)
    if decimals is not None:
        proba = np.round(proba, decimals)  # ties, and zeros the clipping must handle
    light, full = shown_metrics(y, proba), classification_metrics(y, proba)
    for key in SHOWN:
        if full[key] is None:
            assert light[key] is None, key
        else:
            assert light[key] == pytest.approx(full[key], rel=1e-12, abs=1e-12), key


def _folds_with_constant_baselines(seed: int = 0) -> pd.DataFrame:
    """Three months whose class shares differ, the majority baseline a different constant
    each month (as a baseline refitted per fold is), the model informative within months."""
    rng = np.random.default_rng(seed)
    parts = []
    for month, shares, constant in (
        ("2024-01", [0.2, 0.6, 0.2], [0.25, 0.5, 0.25]),
        ("2024-02", [0.4, 0.2, 0.4], [0.2, 0.6, 0.2]),
        ("2024-03", [0.1, 0.8, 0.1], [0.4, 0.2, 0.4]),
    ):
        n = 3 * 1440
        y = rng.choice(3, n, p=shares)
        model = rng.dirichlet([1, 1, 1], n)
        model[np.arange(n), y] += 0.3  # knows something inside the month
        frame = pd.DataFrame(
            {"timestamp": pd.date_range(f"{month}-01", periods=n, freq="min", tz="UTC")}
        )
        for name, values in (
            ("model", model / model.sum(axis=1, keepdims=True)),
            ("majority", np.tile(constant, (n, 1))),
            ("logistic", rng.dirichlet([2, 2, 2], n)),
        ):
            for k, column in enumerate(PROBA_COLUMNS[name]):
                frame[column] = values[:, k]
        frame["label"] = y
        frame["fold"] = month
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_per_fold_constant_baselines_cannot_manufacture_a_pooled_auc():
    stitched = _folds_with_constant_baselines()
    y = stitched["label"].to_numpy()
    majority = stitched[list(PROBA_COLUMNS["majority"])].to_numpy()
    naive = roc_auc_score(y, majority, multi_class="ovr")  # all months ranked together
    assert abs(naive - 0.5) > 0.05  # the artefact this rule removes
    pooled = pooled_metrics(stitched)
    assert pooled["majority"]["auc_roc_ovr"] == 0.5
    assert pooled["model"]["auc_roc_ovr"] > 0.6  # ordering inside months still counts
    for row in monthly_table(stitched, n_boot=50):
        assert row["majority_auc_roc_ovr"] == 0.5
    flat = pd.Series(np.zeros(3), index=pd.date_range("2024-01-01", periods=3, tz="UTC"))
    summary = walk_forward_summary(stitched, flat, flat, n_boot=100)
    auc = summary["intervals"]["classification"]["majority_auc"]
    assert auc == {"estimate": 0.5, "low": 0.5, "high": 0.5}  # every resample, too
    assert "ranks within" in summary["auc_rule"] or "mid-rank" in summary["auc_rule"]


def test_month_ranks_keep_each_months_order_and_centre_constants():
    stitched = _folds_with_constant_baselines(1)
    ranks = month_ranks(stitched, "model")
    for _, positions in stitched.groupby("fold").indices.items():
        raw = stitched[list(PROBA_COLUMNS["model"])].to_numpy()[positions]
        for k in range(3):
            assert (
                np.argsort(ranks[positions, k], kind="stable")
                == np.argsort(raw[:, k], kind="stable")
            ).all()
    assert (month_ranks(stitched, "majority") == 0.5).all()


def test_a_constant_predictor_takes_the_tie_shortcut_and_equals_the_reference():
    rng = np.random.default_rng(3)
    days = np.sort(rng.integers(0, 12, 600))
    y = rng.integers(0, 3, 600)
    proba = {"model": rng.dirichlet([1, 1, 1], 600), "constant": np.tile([0.2, 0.5, 0.3], (600, 1))}
    got = classification_draws(y, proba, days, 40, 7)
    expected = reference_classification_draws(y, proba, days, 40, 7)
    assert got[0] == expected[0]
    for key, draws in got[1].items():
        assert np.array_equal(draws, expected[1][key], equal_nan=True), key
    assert got[0]["constant_auc"] == 0.5


def _interval(estimate, low, high):
    return {"estimate": estimate, "low": low, "high": high}


@pytest.mark.parametrize(
    ("low", "high", "word"),
    [(-0.0052, -0.0003, "worse"), (-0.002, 0.003, "no different"), (0.001, 0.004, "better")],
)
def test_a_difference_reads_worse_no_different_or_better_by_its_interval(low, high, word):
    accuracy = _interval((low + high) / 2, low, high)
    clear = _interval(0.03, 0.01, 0.05)
    decided = verdict(
        {"model_minus_majority_accuracy": accuracy, "model_minus_logistic_auc": clear},
        {"sharpe": clear},
        majority="always-Neutral",
    )
    line = decided.headline.conditions[0].line
    assert line.startswith(f"accuracy over always-Neutral: {word} (")
    assert decided.edge == (word == "better")
    assert decided.headline.title == ("EDGE" if word == "better" else "NO EDGE")
    if word == "worse":
        assert "points below, 95% interval [-0.52, -0.03]" in line
        assert decided.headline.worse


def test_an_undefined_sharpe_says_the_true_reason():
    clear = _interval(0.03, 0.01, 0.05)
    reason = "0 trades: max p_up 0.587 < 0.6; max p_down 0.41 < 0.6, shorts off on spot"
    decided = verdict(
        {"model_minus_majority_accuracy": clear, "model_minus_logistic_auc": clear},
        {"sharpe": _interval(None, None, None)},
        why_no_sharpe=reason,
    )
    assert not decided.edge
    assert f"Sharpe after costs over 0: undefined ({reason})" in decided.line
    assert "too few days or no variation" not in decided.line
    flat = decided.headline.flat()
    assert flat["accuracy_minus_majority_low"] == 0.01 and "sharpe" not in flat


def test_zero_trades_say_how_close_each_side_came_and_whether_shorts_were_off():
    p_up = np.array([0.2, 0.587, 0.4, np.nan])
    p_down = np.array([0.61, 0.3, 0.7, np.nan])
    reason = zero_trades_reason(p_up, p_down, 0.6, allow_short=False, market="spot")
    assert reason == (
        "0 trades: max p_up 0.587 < 0.6; p_down passed 0.6 in 2 of 3 minutes, shorts off on spot"
    )
    allowed = zero_trades_reason(p_up, p_down, 0.6, allow_short=True, market="linear")
    assert "shorts off" not in allowed and "none could open" in allowed


@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers()))
@example(1.7975e308)  # rounds up past the largest float
def test_every_number_reaches_a_person_short_and_never_raw(value):
    text = number(value)
    assert "None" not in text and "nan" not in text and "inf" not in text
    digits = [c for c in text.split("e")[0] if c.isdigit()]
    if isinstance(value, float) and text != "n/a" and abs(value) < 1e4:
        assert len("".join(digits).lstrip("0")) <= 4  # 4 significant digits at most
    short_value = rounded(value) if isinstance(value, float) else None
    if short_value is not None and value != 0:
        assert abs(short_value - value) <= abs(value) * 5e-4

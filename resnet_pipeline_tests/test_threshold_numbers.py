"""Numbers that do not lie at a threshold: a value beside the threshold it is judged by prints
on its true side, a p-value below the bootstrap's resolution as a bound, a DSR below 1 never as
1, and a constant non-zero return column is refused once, with one reason."""

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.defs.report_checks import report_metadata
from resnet_pipeline.ml.trial_statistics.backtest_overfitting import (
    probability_of_backtest_overfitting,
)
from resnet_pipeline.ml.trial_statistics.deflated_sharpe import (
    deflated_sharpe_of_trials,
    deflated_sharpe_ratio,
)
from resnet_pipeline.ml.trial_statistics.returns_matrix import TrialReturnsError, returns_matrix
from resnet_pipeline.ml.trial_statistics.stepwise_superiority import stepwise_superiority
from resnet_pipeline.ml.trial_statistics.superior_predictive_ability import (
    superior_predictive_ability,
)
from resnet_pipeline.ml.trial_statistics.trial_verdict import (
    shown_deflated_sharpe,
    shown_overfitting,
    shown_p,
    trial_verdict,
)
from resnet_pipeline.number_format import beside, p_value
from resnet_pipeline.reports.experiment_page import verdict_headline

DAYS = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")


@pytest.mark.parametrize(
    ("value", "thresholds", "shown"),
    [
        (6434 / 12870, (0.5,), "0.4999"),  # the PBO: not '0.5' beside '< 0.5'
        (0.94996, (0.95, 1.0), "0.94996"),  # the DSR: not '0.95' beside '>= 0.95'
        (0.99999, (0.95, 1.0), "0.99999"),  # a DSR below 1 never reads '1'
        (0.9999999999, (0.95, 1.0), "< 1"),  # past 8 digits: the bound it lies beside
        (0.5000000001, (0.5,), "> 0.5"),
        (0.5, (0.5,), "0.5"),  # on the threshold, printed on it
        (0.41234, (0.95,), "0.412"),  # far from it, 3 digits
        (0.0500004, (0.05,), "0.0500004"),
    ],
)
def test_a_value_prints_on_its_side_of_each_threshold(value, thresholds, shown):
    assert beside(value, *thresholds) == shown
    if not shown.startswith(("<", ">")):
        for threshold in thresholds:
            assert np.sign(float(shown) - threshold) == np.sign(value - threshold)


def test_p_values_below_the_resolution_read_as_a_bound_and_never_as_0():
    assert p_value(0.0, 1 / 1000, 0.05) == "< 0.001"
    assert shown_p(0.0, 1000) == "< 0.001"
    assert shown_p(0.0, 200) == "< 0.005"
    assert shown_p(0.04996, 50_000) == "0.04996"  # not '0.05' beside '< 0.05'
    assert shown_p(0.123, 1000) == "0.123"


def test_the_deflated_sharpe_never_reads_as_certainty():
    returns = np.random.default_rng(0).normal(0.01, 0.001, 400)  # per-day Sharpe about 10
    result = deflated_sharpe_ratio(returns, n_trials=1, trial_sharpe_variance=None)
    assert result.value < 1.0
    assert shown_deflated_sharpe(result.value) == "< 1"
    assert shown_deflated_sharpe(0.9999996) == "0.9999996"
    assert shown_overfitting(6434 / 12870) == "0.4999"


def _statistics() -> dict:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(0, 0.01, (len(DAYS), 3)), index=DAYS, columns=["a", "b", "c"])
    benchmarks = {"buy-and-hold": pd.Series(rng.normal(0, 0.01, len(DAYS)), index=DAYS)}
    verdict = trial_verdict(frame, benchmarks, dict.fromkeys(frame, 200), blocks=8, reps=200)
    return verdict.to_dict()


def test_the_headline_prints_each_value_on_its_side_of_its_threshold():
    statistics = _statistics()
    edge_case = statistics | {
        "deflated_sharpe": statistics["deflated_sharpe"] | {"value": 0.94996},
        "overfitting": statistics["overfitting"] | {"pbo": 6434 / 12870},
        "predictive_ability": [statistics["predictive_ability"][0] | {"consistent": 0.0}],
    }
    details = {c.key: c.detail for c in verdict_headline(edge_case).conditions}
    assert details["dsr"] == "0.94996; an edge needs >= 0.95"
    assert details["pbo"] == "0.4999; an edge needs < 0.5"
    assert details["spa_p_buy_and_hold"] == "< 0.005; an edge needs < 0.05"
    metadata = report_metadata(verdict_headline(edge_case), {}, [])
    assert (metadata["dsr"], metadata["pbo"]) == ("0.94996", "0.4999")  # the UI's figures too
    near_one = statistics | {"deflated_sharpe": statistics["deflated_sharpe"] | {"value": 0.99999}}
    dsr = next(c for c in verdict_headline(near_one).conditions if c.key == "dsr")
    assert dsr.detail.startswith("0.99999;") and dsr.word == "better"


def test_the_headline_states_the_trades_behind_the_verdict():
    statistics = _statistics()
    conditions = verdict_headline(statistics).conditions
    evidence = next(c for c in conditions if c.key == "best_trial_trades")
    best = statistics["evidence"]["trial"]
    assert evidence.line == (
        f"trades of the best trial ({best}): enough (200 trades on 120 days; an edge needs "
        "at least 30 trades on at least 10 days)"
    )
    few = statistics | {"evidence": statistics["evidence"] | {"trades": 5, "enough": False}}
    headline = verdict_headline(few)
    line = next(c for c in headline.conditions if c.key == "best_trial_trades").line
    assert line.startswith(f"trades of the best trial ({best}): too few trades to judge (5 trades")
    assert not headline.edge


def test_a_constant_non_zero_column_is_refused_once_with_one_reason():
    frame = pd.DataFrame(np.random.default_rng(3).normal(0, 0.01, (len(DAYS), 2)), index=DAYS)
    frame.columns = ["traded", "deposit"]
    frame["deposit"] = 0.0007  # per_day_sharpe read this as about 6e15 before
    benchmark = pd.Series(0.0, index=DAYS)
    reason = r"'deposit', are the same non-zero value every day \(0.0007\)"
    with pytest.raises(TrialReturnsError, match=reason):
        returns_matrix(frame)
    checks = [
        lambda: trial_verdict(frame, {"cash": benchmark}, {"traded": 50, "deposit": 120}),
        lambda: probability_of_backtest_overfitting(frame, blocks=8),
        lambda: superior_predictive_ability(frame, benchmark, "cash"),
        lambda: stepwise_superiority(frame, benchmark, "cash"),
    ]
    for check in checks:
        with pytest.raises(TrialReturnsError, match=reason):
            check()
    frame["deposit"] = 0.0  # never traded: a column of zeros is no error
    assert deflated_sharpe_of_trials(returns_matrix(frame)).reason.startswith(
        "deposit never traded"
    )

"""Verdicts that cannot flatter (SPEC 12): a target is met only when the baseline is beaten
too, every verdict says met / not met / not defined (why), and a report explains itself."""

import re
from html import escape

from hypothesis import given
from hypothesis import strategies as st

from resnet_pipeline.ml.evaluation.classification import classification_verdicts
from resnet_pipeline.trading.performance import CONVENTIONS, trading_verdicts
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline.verdicts import BASELINE_BETTER, Target, compare_to_targets
from resnet_pipeline_tests._backtest_helpers import ramped_predictions
from resnet_pipeline_tests._features_helpers import synthetic
from resnet_pipeline_tests._report_fixtures import period_report_page

TARGETS = (
    Target("up", ">", 0.5, ("a", "b")),
    Target("down", "<", 0.2, ("a",)),
    Target("alone", ">", 1.0),
)
maybe = st.one_of(st.none(), st.floats(-1, 2, allow_nan=False))


@given(
    values=st.fixed_dictionaries({"up": maybe, "down": maybe, "alone": maybe}),
    a=st.fixed_dictionaries({"up": maybe, "down": maybe}),
    b=st.fixed_dictionaries({"up": maybe}),
)
def test_met_means_target_passed_and_every_baseline_beaten(values, a, b):
    rows = compare_to_targets(values, TARGETS, {"a": a, "b": b})
    for row, target in zip(rows, TARGETS, strict=True):
        verdict, value = row["verdict"], values[target.metric]
        assert verdict == "met" or verdict.startswith(("not met", "not defined ("))
        assert (row["met"] is True) == (verdict == "met")
        assert (row["met"] is None) == verdict.startswith("not defined")
        if row["met"]:
            better = (lambda x, y: x > y) if target.op == ">" else (lambda x, y: x < y)
            assert better(value, target.threshold)
            rivals = [{"a": a, "b": b}[n].get(target.metric) for n in target.baselines]
            assert all(better(value, r) for r in rivals if r is not None)
            assert not target.baselines or any(r is not None for r in rivals)


def test_passing_the_target_without_beating_the_baseline_is_not_met():
    model = {"accuracy": 0.50, "precision_up": 0.60, "macro_f1": 0.55, "auc_roc_ovr": 0.65}
    majority = {"accuracy": 0.50, "precision_up": 0.0, "macro_f1": 0.2, "auc_roc_ovr": 0.5}
    logistic = {"accuracy": 0.40, "precision_up": 0.61, "macro_f1": 0.3, "auc_roc_ovr": 0.66}
    rows = {
        r["metric"]: r
        for r in classification_verdicts(
            model, {"majority": majority, "logistic_last_row": logistic}
        )
    }
    assert rows["accuracy"]["verdict"] == BASELINE_BETTER  # equal to always-majority
    assert rows["precision_up"]["verdict"] == BASELINE_BETTER  # the better baseline: logistic
    assert rows["precision_up"]["baseline"] == "logistic_last_row"
    assert rows["auc_roc_ovr"]["verdict"] == BASELINE_BETTER
    assert rows["macro_f1"]["verdict"] == "met" and rows["macro_f1"]["baseline_value"] == 0.2
    assert rows["precision_down"]["verdict"].startswith("not defined (")


def test_trading_ratios_must_beat_buy_and_hold():
    strategy = {
        "sharpe": 2.0,
        "sortino": 3.0,
        "max_drawdown": 0.05,
        "calmar": 2.0,
        "win_rate": 0.6,
        "profit_factor": 1.5,
        "trades": 40,
    }
    hold = {"sharpe": 2.5, "sortino": 2.5, "max_drawdown": 0.05, "calmar": None}
    rows = {r["metric"]: r for r in trading_verdicts(strategy, hold)}
    assert rows["sharpe"]["verdict"] == BASELINE_BETTER
    assert rows["sortino"]["verdict"] == "met"
    assert rows["max_drawdown"]["verdict"] == BASELINE_BETTER  # equal drawdown is no edge
    assert rows["calmar"]["met"] is False  # buy-and-hold's undefined: no edge shown
    assert rows["win_rate"]["verdict"] == "met" and rows["win_rate"]["baseline"] == "none"


def _report(evaluation):
    return period_report_page(evaluation, "BTCUSDT", (0.5, 0.5), 100)[1].html


def test_no_trades_says_why_and_meets_nothing():
    candles = synthetic("2024-03-01", 3 * 1440)
    evaluation = evaluate_strategy(
        candles, ramped_predictions(candles, 0.55, 0.25), StrategyConfig()
    )
    assert evaluation.metrics["trades"] == 0 and evaluation.metrics["max_drawdown"] == 0
    rows = {r["metric"]: r for r in evaluation.targets}
    assert rows["max_drawdown"]["met"] is None
    assert {r["verdict"] for r in rows.values()} == {"not defined (no trades)"}
    why = evaluation.notes[0]
    assert "highest p_up reached was 0.5500" in why and "p_down 0.2500" in why
    assert "threshold 0.6" in why
    html = _report(evaluation)
    assert "highest p_up reached was 0.5500" in html
    assert "not defined (no trades)" in html and 'class="met"' not in html
    assert not re.search(r'<td class="(met|missed|undefined)"></td>', html)  # never blank


def test_a_short_test_period_warns_beside_annualized_figures():
    candles = synthetic("2024-03-01", 3 * 1440)
    evaluation = evaluate_strategy(
        candles, ramped_predictions(candles, 0.55, 0.25), StrategyConfig()
    )
    html = _report(evaluation)
    assert any("only 3.0 days" in n for n in evaluation.notes)
    assert "only 3.0 days (&lt; 30)" in html and "sharpe (short period: see warning)" in html
    long = synthetic("2024-03-01", 31 * 1440)
    evaluation = evaluate_strategy(long, ramped_predictions(long, 0.55, 0.25), StrategyConfig())
    assert not any("days (<" in n for n in evaluation.notes)
    assert "short period" not in _report(evaluation)


def test_every_report_states_the_conventions():
    candles = synthetic("2024-03-01", 2 * 1440)
    evaluation = evaluate_strategy(
        candles, ramped_predictions(candles, 0.9, 0.05), StrategyConfig()
    )
    assert evaluation.metrics["trades"] > 0 and not any("No trades" in n for n in evaluation.notes)
    html = _report(evaluation)
    assert "<h2>Conventions</h2>" in html
    for sentence in CONVENTIONS:
        assert escape(sentence) in html

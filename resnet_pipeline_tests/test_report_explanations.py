"""Every report explains its result on its first screen (issue 29): net = gross - costs over
the trades and the exit that closed most of them, an exit-reason table, units on every
figure, targets coloured by what they mean, trials that never traded named as such, the
settings and training the result rests on, and a link to another view with the reason."""

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.experiments.experiment_file import parse_experiment
from resnet_pipeline.experiments.ledger import new_record
from resnet_pipeline.experiments.verdict_report import (
    ReportSettings,
    TrialInput,
    TrialTests,
    build_experiment_report,
    leaderboard_order,
)
from resnet_pipeline.knobs import config_fields, knob
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
from resnet_pipeline.ml.evaluation.run_settings import (
    RunSettings,
    TrainingBudget,
    settings_difference,
    strategy_phrases,
)
from resnet_pipeline.number_format import (
    MINUTES,
    MONEY,
    PERCENT,
    PLAIN,
    POINTS,
    metric,
    money,
    signed_percent,
    unit_of,
)
from resnet_pipeline.reports.experiment_page import experiment_page, verdict_headline
from resnet_pipeline.reports.first_screen import OtherView
from resnet_pipeline.reports.html import table
from resnet_pipeline.trading.fills import EXIT_REASONS
from resnet_pipeline.trading.performance import trading_verdicts
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline.trading.trade_breakdown import EXIT_NAMES, quote_currency, trade_breakdown
from resnet_pipeline.verdicts import MET, MET_BUT_LOST
from resnet_pipeline_tests._features_helpers import synthetic
from resnet_pipeline_tests._report_fixtures import period_report_page
from resnet_pipeline_tests.test_experiment_verdict_report import STEP, _noise_frame, step_candles

EXPERIMENT_LINK = OtherView(
    "../experiments/planted/PLANTUSDT/report.html",
    "the experiment uses threshold 0.7, full size; this job threshold 0.6, Kelly size up to 25%",
    "the experiment's report",
)


def _first_screen(html: str) -> str:
    """What a person sees before the plots: the title, the headline and what it rests on."""
    return html.split("<h2>Plots</h2>")[0]


def _flickering(candles: pd.DataFrame) -> pd.DataFrame:
    """p_up above the threshold one minute in ten, below 0.5 the minute after: each trade
    opens and is closed by the confidence exit one minute later (the demo's main job)."""
    n = len(candles)
    p_up = np.where(np.arange(n) % 10 == 0, 0.9, 0.4)
    return pd.DataFrame(
        {
            "timestamp": candles["timestamp"],
            "p_down": (1 - p_up) / 2,
            "p_neutral": (1 - p_up) / 2,
            "p_up": p_up,
        }
    )


@pytest.fixture(scope="module")
def flicker():
    candles = synthetic("2024-03-01", 2 * 1440)
    return evaluate_strategy(candles, _flickering(candles), StrategyConfig())


def _backtest_page(evaluation, training=None, others=()):
    return period_report_page(evaluation, "PLANTUSDT", (0.38, 0.368), 50, training, others)


def test_net_is_gross_minus_fees_and_slippage_read_off_the_trades(flicker):
    trades, cfg = flicker.result.trades, flicker.result.config
    b = trade_breakdown(trades, cfg.initial_equity)
    assert b.trades == flicker.metrics["trades"] > 20
    assert b.share(b.net) == pytest.approx(flicker.metrics["total_return"], abs=1e-12)
    assert b.fees == pytest.approx(flicker.metrics["fees_paid"])
    s = cfg.slippage_bps / 1e4
    raw_entry = trades["entry_price"] / (1 + trades["side"] * s)
    raw_exit = trades["exit_price"] / (1 - trades["side"] * s)
    slipped = trades["qty"] * (
        (trades["entry_price"] - raw_entry).abs() + (raw_exit - trades["exit_price"]).abs()
    )
    assert b.slippage == pytest.approx(slipped.sum(), rel=1e-9)
    before_costs = (trades["side"] * trades["qty"] * (raw_exit - raw_entry)).sum()
    assert b.gross == pytest.approx(before_costs, rel=1e-9)  # the prices without slippage
    assert b.costs == pytest.approx(b.fees + b.slippage)


def test_the_why_line_leads_the_backtest_report(flicker):
    headline, page = _backtest_page(flicker)
    b = trade_breakdown(flicker.result.trades, flicker.result.config.initial_equity)
    main = b.main_exit
    assert main.reason == "low_confidence" and main.share > 0.9 and main.median_hold_minutes == 1
    why = headline.notes[0]
    assert why.startswith(
        f"Net {signed_percent(flicker.metrics['total_return'])} = gross "
        f"{signed_percent(b.share(b.gross))} - costs "
    )
    assert f"fees {money(b.fees, 'USDT')} + slippage {money(b.slippage, 'USDT')}" in why
    assert f"over {b.trades} trades; " in why
    assert why.endswith("closed by the confidence exit after a median 1 min")
    first = _first_screen(page.html)
    assert why in first and first.index(why) > first.index('id="headline"')


def test_the_exit_reason_table_adds_up_to_the_trades(flicker):
    trades = flicker.result.trades
    b = trade_breakdown(trades, flicker.result.config.initial_equity)
    assert sum(row.trades for row in b.exits) == len(trades)
    assert sum(row.share for row in b.exits) == pytest.approx(1.0)
    assert sum(row.net for row in b.exits) == pytest.approx(b.net)
    assert [row.trades for row in b.exits] == sorted((row.trades for row in b.exits), reverse=True)
    confidence = next(row for row in b.exits if row.reason == "low_confidence")
    closed = trades[trades["reason"] == "low_confidence"]
    assert confidence.mean_return == pytest.approx(closed["return"].mean())
    html = _backtest_page(flicker)[1].html
    table_html = html.split("<h3>Trades by exit reason</h3>")[1].split("</table>")[0]
    for column in ("exit reason", "share of trades", "median holding", "mean net return per trade"):
        assert f"<th>{column}</th>" in table_html
    assert "<td>the confidence exit</td>" in table_html and "<td>1 min</td>" in table_html
    assert "USDT (" in table_html and "% of the starting equity)" in table_html


def test_every_exit_reason_the_engine_records_has_a_name():
    assert set(EXIT_NAMES) == set(EXIT_REASONS)


def test_figures_carry_their_units_and_one_percentage_convention(flicker):
    assert quote_currency("PLANTUSDT") == "USDT" and quote_currency("ETHBTC") == "BTC"
    assert {unit_of(n) for n in ("total_return", "max_drawdown", "win_rate", "exposure")} == {
        PERCENT
    }
    assert unit_of("model_accuracy") == unit_of("long_precision") == PERCENT
    assert unit_of("model_minus_majority_accuracy") == POINTS
    assert unit_of("average_hold_minutes") == MINUTES and unit_of("fees_paid") == MONEY
    assert unit_of("sharpe") == unit_of("auc_roc_ovr") == PLAIN
    assert metric("long_precision", float("nan")) == "n/a"  # never "n/a%"
    assert metric("total_return", -0.127) == "-12.7%" and metric("fees_paid", 1229.4, "USDT") == (
        "1,229 USDT"
    )
    html = _backtest_page(flicker)[1].html
    m = flicker.metrics
    rows = html.split("<h3>Strategy vs. buy-and-hold</h3>")[1].split("</table>")[0]
    assert f"<td>total return</td><td>{metric('total_return', m['total_return'])}</td>" in rows
    assert f"<td>fees paid</td><td>{money(m['fees_paid'], 'USDT')}</td>" in rows
    assert f"<td>trades</td><td>{m['trades']} trades</td>" in rows
    assert "<td>average hold minutes</td><td>" in rows and " min</td>" in rows
    targets = html.split("<h3>Trading targets (SPEC 10)</h3>")[1].split("</table>")[0]
    assert "<td>&lt; 15%</td>" in targets and "<td>&gt; 52%</td>" in targets
    classification = html.split("Classification on the test split")[1].split("</table>")[0]
    assert "<td>38%</td><td>36.8%</td>" in classification  # accuracy, a share, in percent
    assert "<td>&gt; 45%</td>" in classification


def test_a_met_target_of_a_losing_strategy_is_not_good_news():
    strategy = {"sharpe": -3.0, "max_drawdown": 0.01, "win_rate": 0.6, "trades": 40}
    hold = {"sharpe": 1.0, "max_drawdown": 0.2}
    lost = {r["metric"]: r for r in trading_verdicts(strategy | {"total_return": -0.12}, hold)}
    won = {r["metric"]: r for r in trading_verdicts(strategy | {"total_return": 0.05}, hold)}
    assert lost["max_drawdown"]["verdict"] == MET_BUT_LOST == lost["win_rate"]["verdict"]
    assert lost["max_drawdown"]["met"] is True  # it met the target; it is just no good news
    assert won["max_drawdown"]["verdict"] == MET
    columns = ["metric", "verdict"]
    assert '<td class="neutral">met, but the strategy lost</td>' in table(
        [lost["max_drawdown"]], columns
    )
    assert '<td class="met">met</td>' in table([won["max_drawdown"]], columns)
    assert '<td class="missed">not met</td>' in table([lost["sharpe"]], columns)


def test_the_first_screen_says_which_settings_and_training_the_result_rests_on(flicker):
    training = TrainingBudget.of_models([2], [52_000], {"epochs": 3, "max_train_samples": 4000})
    assert training.windows_per_epoch == (4000,) and training.max_epochs == 3
    first = _first_screen(_backtest_page(flicker, training)[1].html)
    for words in (
        "threshold 0.6",
        "Kelly size up to 25%",
        "720 min hold at most",
        "confidence exit below 0.5",
        "stop 2% from entry",
        "take-profit 3%",
        "one model trained 2 epochs (at most 3) on 4,000 windows per epoch, drawn from "
        "52,000 training windows",
    ):
        assert words in first, words


def test_the_settings_are_derived_from_the_config_fields():
    phrases = strategy_phrases(StrategyConfig())
    read = [name for names in phrases for name in names]
    assert sorted(read) == sorted(f.name for f in config_fields(StrategyConfig))  # once each

    @dataclass(frozen=True)
    class WithLeverage(StrategyConfig):
        leverage: float = knob(3.0, "a field the phrases were not written for")

    assert strategy_phrases(WithLeverage())[("leverage",)] == "leverage 3"


def test_the_difference_of_two_settings_is_one_line():
    job = RunSettings(
        StrategyConfig(threshold=0.55), TrainingBudget((2,), (52_000,), (4000,), 2), "2024-07"
    )
    experiment = RunSettings(
        StrategyConfig(
            threshold=0.7,
            sizing="fixed",
            fixed_fraction=1.0,
            max_hold_minutes=12,
            exit_confidence=None,
        ),
        job.training,
        "2024-07",
    )
    line = settings_difference(job, experiment, "this job", "the experiment")
    assert line == (
        "the experiment uses threshold 0.7, full size, 12 min hold at most, no confidence exit; "
        "this job threshold 0.55, Kelly size up to 25%, 720 min hold at most, confidence exit "
        "below 0.5"
    )
    longer = replace(experiment, training=TrainingBudget((10,), (52_000,), (20_000,), 10))
    assert "one model trained 10 epochs (at most 10)" in settings_difference(
        job, longer, "this job", "the experiment"
    )
    unused = replace(job, strategy=replace(job.strategy, fixed_fraction=0.5))  # kelly sizing
    assert settings_difference(job, unused, "a", "b") == (
        "b and a use the same strategy and training settings"
    )
    assert RunSettings.from_dict(job.to_dict()) == job  # what the stored JSON gives back


def test_the_backtest_report_links_the_other_view_with_the_reason(flicker):
    first = _first_screen(_backtest_page(flicker, others=[EXPERIMENT_LINK])[1].html)
    assert (
        'Why this differs from <a href="../experiments/planted/PLANTUSDT/report.html">'
        "the experiment&#x27;s report</a>: the experiment uses threshold 0.7" in first
    )
    assert "Why this differs" not in _backtest_page(flicker)[1].html


@pytest.fixture(scope="module")
def idle_trial():
    """Two trials on noise: 'window-48' never trades (threshold 0.99), 'plain' does."""
    experiment = parse_experiment(
        {
            "months": ["2024-02", "2024-03"],
            "symbols": ["BTCUSDT"],
            "base": {"calibration": {"calibrated_strategy": False}},
            "variants": [
                {"name": "window-48", "strategy": {"threshold": 0.99}},
                {"name": "plain"},
            ],
        },
        Path("idle.yaml"),
        ["BTCUSDT"],
    )
    times = pd.date_range("2024-02-01", "2024-03-31 23:40", freq=STEP, tz="UTC")
    candles = step_candles(times)
    trials = []
    for index, variant in enumerate(experiment.variants):
        digest = variant.config.config_hash
        record = new_record("idle", "BTCUSDT", variant.name, digest, variant.config.sections())
        folds = [{"epochs_run": 2, "train_samples": 4000}, {"epochs_run": 3, "train_samples": 5000}]
        done = [date(2024, 2, 1), date(2024, 3, 1)]
        trials.append(TrialInput(record, variant.config, _noise_frame(times, index), done, folds))
    settings = ReportSettings(BootstrapConfig(n_boot=100), TrialTests(pbo_blocks=8, spa_reps=200))
    report = build_experiment_report(experiment, "BTCUSDT", trials, candles, settings)
    page = experiment_page(
        report.summary,
        report.best_equity,
        report.benchmark_equity,
        report.best_predictions,
        report.best_trades,
        [EXPERIMENT_LINK],
    )
    return report, page


def test_a_trial_that_never_traded_is_labelled_and_ranked_last(idle_trial):
    report, page = idle_trial
    board = report.summary["leaderboard"]
    assert [line["variant"] for line in board] == ["plain", "window-48"]
    idle, traded = board[1], board[0]
    assert idle["trades"] == 0 and not idle["best"]
    assert traded["best"] and traded["total_return"] < 0  # noise loses its costs
    rows = page.html.split("<h3>Leaderboard")[1].split("</table>")[0]
    lost = signed_percent(traded["total_return"]).lstrip("-")
    assert f"<td>1 (best, lost {lost})</td>" in rows  # a losing best says it lost
    assert "<td>never traded</td>" in rows and "<td>none: 0 trades</td>" in rows
    assert "<td>0 trades</td>" in rows
    assert f"0 trades (no Sharpe ratio, listed last): {idle['trial']}." in page.html
    by_rule = sorted(
        [{"trades": 0, "per_day_sharpe": np.nan}, {"trades": 5, "per_day_sharpe": -4.0}],
        key=leaderboard_order,
    )
    assert by_rule[0]["trades"] == 5  # a missing Sharpe never ranks above a real one


def test_a_statistic_that_cannot_be_computed_names_the_trial_that_never_traded(idle_trial):
    report, page = idle_trial
    idle = report.summary["leaderboard"][1]["trial"]
    reason = report.verdict.deflated_sharpe.reason
    assert reason.startswith(f"{idle} never traded")
    assert "variance" not in reason
    assert f"deflated Sharpe undefined: {idle} never traded" in report.summary["verdict"]
    assert f"{idle} never traded" in _first_screen(page.html)


def test_the_experiment_report_explains_its_best_trial_and_links_the_other_view(idle_trial):
    report, page = idle_trial
    first = _first_screen(page.html)
    best = report.summary["leaderboard"][0]
    b = trade_breakdown(report.best_trades, 10_000.0)
    assert f"The best trial ({best['trial']}, which lost money): Net " in first
    assert f"over {b.trades} trades; " in first and f"closed by {b.main_exit.name}" in first
    assert "Strategy: threshold 0.6, Kelly size up to 25%" in first
    assert (
        "2 models (one per month), each trained 2-3 epochs (at most 100) on all of "
        "4,000-5,000 training windows each epoch"
    ) in first
    assert "Why this differs from <a href=" in first
    assert "<h3>Trades by exit reason: the best trial" in page.html


def test_a_p_value_below_the_spa_resolution_reads_as_a_bound(idle_trial):
    report, _ = idle_trial
    statistics = report.summary["statistics"]
    spa = statistics["predictive_ability"][0]
    zero = statistics | {"predictive_ability": [spa | {"consistent": 0.0, "reps": 200}]}
    line = next(c for c in verdict_headline(zero).conditions if c.key.startswith("spa_p_"))
    assert line.detail.startswith("< 0.005; an edge needs < 0.05")


def test_the_experiment_page_marks_stepms_winners_and_states_the_trades(idle_trial):
    report, page = idle_trial
    statistics = report.summary["statistics"]
    rows = page.html.split("<h3>Leaderboard")[1].split("</table>")[0]
    assert "<th>beats at 5% (StepM)</th>" in rows
    for line in report.summary["leaderboard"]:
        assert f"<td>{', '.join(line['beats']) or 'none'}</td>" in rows
    evidence = statistics["evidence"]
    stated = f"{evidence['trades']:,} trades on {evidence['active_days']:,} days"
    first = _first_screen(page.html)
    assert f"trades of the best trial ({evidence['trial']}): " in first and stated in first
    spa = {s["benchmark"]: s["consistent"] for s in statistics["predictive_ability"]}
    assert ("StepM vs buy-and-hold: " in first) == (spa["buy-and-hold"] < 0.05)
    table = page.html.split("<h3>The verdict&#x27;s statistics")[1].split("</table>")[0]
    assert "StepM: trials that beat buy-and-hold at 5%" in table

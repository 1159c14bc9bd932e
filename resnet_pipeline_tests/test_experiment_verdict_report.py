"""The experiment report's wiring of the verdict (the statistics' own tests cover the math): on
pure noise with 24 scored trials the verdict is "no edge", N is the ledger's size (an
unfinished trial included), the SPA benchmarks are buy-and-hold and the best baseline, and
every trial is scored on the minutes all of them predicted."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.experiments.experiment_file import parse_experiment
from resnet_pipeline.experiments.ledger import new_record
from resnet_pipeline.experiments.strategy_returns import backtest_of, daily, mean_return
from resnet_pipeline.experiments.variant_fold import BASELINES, EXPERIMENT_COLUMNS
from resnet_pipeline.experiments.verdict_report import (
    BEST_BASELINE,
    BUY_AND_HOLD,
    ReportSettings,
    TrialInput,
    TrialTests,
    build_experiment_report,
    column_name,
)
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig

MONTHS = ("2024-02", "2024-03")
STEP = "20min"  # sparse bars: every scored minute is a bar, and the test stays fast
SETTINGS = ReportSettings(BootstrapConfig(n_boot=100), TrialTests(pbo_blocks=8, spa_reps=200))


def step_candles(times: pd.DatetimeIndex) -> pd.DataFrame:
    """The synthetic market's candles over ``times`` (and the day before) in STEP bars."""
    candles = SyntheticSource().fetch("BTCUSDT", times[0] - pd.Timedelta("1D"), times[-1])
    return candles.set_index("timestamp").resample(STEP).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    ).reset_index()  # fmt: skip


def _noise_frame(times: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"timestamp": times, "label": rng.integers(0, 3, len(times))})
    for columns in EXPERIMENT_COLUMNS.values():
        values = rng.dirichlet([2.0, 2.0, 2.0], len(times))
        for column, values_k in zip(columns, values.T, strict=True):
            frame[column] = values_k
    frame["fold"] = frame["timestamp"].dt.strftime("%Y-%m")
    return frame


@pytest.fixture(scope="module")
def noise():
    experiment = parse_experiment(
        {
            "months": list(MONTHS),
            "symbols": ["BTCUSDT"],
            "base": {"calibration": {"calibrated_strategy": False}},
            "variants": [{"name": "gone"}],
            "grid": {"training": {"seed": list(range(1, 25))}},
        },
        Path("noise.yaml"),
        ["BTCUSDT"],
    )
    times = pd.date_range("2024-02-01", "2024-03-31 23:40", freq=STEP, tz="UTC")
    candles = step_candles(times)
    trials = []
    for index, variant in enumerate(experiment.variants):
        digest = variant.config.config_hash
        record = new_record("noise", "BTCUSDT", variant.name, digest, variant.config.sections())
        frame = _noise_frame(times, index)
        if index == 1:
            frame = frame.iloc[100:]  # fewer eligible minutes (e.g. a longer label horizon)
        done = [date(2024, 2, 1), date(2024, 3, 1)]
        if variant.name == "gone":  # an unfinished trial: counted, not scored
            frame, done = None, done[:1]
        trials.append(TrialInput(record, variant.config, frame, done))
    report = build_experiment_report(experiment, "BTCUSDT", trials, candles, SETTINGS)
    return experiment, trials, candles, report


def test_pure_noise_has_no_edge_after_every_trial_of_the_ledger(noise):
    _, trials, _, report = noise
    summary = report.summary
    assert summary["n_trials"] == len(trials) == 25  # the ledger's size
    assert summary["scored_trials"] == 24
    assert report.verdict.n_trials == 25 and not report.verdict.edge
    assert summary["verdict"].startswith("no edge after 25 trials: ")
    assert report.returns.shape[1] == 24 + 2  # scored trials and the two benchmarks
    assert [row["scored"] for row in summary["ledger"]].count(False) == 1


def test_the_benchmarks_are_buy_and_hold_and_the_best_baseline(noise):
    _, trials, candles, report = noise
    spa = report.summary["statistics"]["predictive_ability"]
    assert [s["benchmark"] for s in spa] == [BUY_AND_HOLD, BEST_BASELINE]
    minutes = pd.DatetimeIndex(report.returns.index)
    scored = [t for t in trials if t.frame is not None]
    common = trials[2].frame["timestamp"].iloc[100:]  # what every scored trial predicted
    means = {}
    for trial in scored:
        frame = trial.frame[trial.frame["timestamp"].isin(common)].reset_index(drop=True)
        for base in BASELINES:
            run = backtest_of(candles, frame, base, trial.config.strategy)
            means[f"{base} of {column_name(trial.record)}"] = mean_return(daily(run))
    best = max(means, key=means.get)
    assert report.summary["best_baseline"] == best
    assert np.isclose(report.summary["benchmark_mean_daily_return"][BEST_BASELINE], means[best])
    assert minutes.equals(pd.DatetimeIndex(report.returns[BEST_BASELINE].index))


def test_every_trial_is_scored_on_the_minutes_all_of_them_predicted(noise):
    _, trials, _, report = noise
    shared = len(trials[2].frame) - 100  # trial 1 lacks the first 100 minutes
    assert report.summary["common_minutes"] == shared
    assert {line["samples"] for line in report.summary["leaderboard"]} == {shared}
    assert report.summary["period"][0] == str(trials[2].frame["timestamp"].iloc[100])


def test_the_leaderboard_gives_every_metric_with_an_interval(noise):
    line = noise[3].summary["leaderboard"][0]
    for metric in ("accuracy", "macro_f1", "auc_roc_ovr", "log_loss", "sharpe_after_costs"):
        interval = line["intervals"][metric]
        assert interval["low"] <= interval["estimate"] <= interval["high"], metric
    assert line["best"] and line["probabilities"] == "model"  # calibration off in this file
    assert set(line["months_won"]) == {
        f"{m}_vs_{b}" for b in BASELINES for m in ("accuracy", "auc_roc_ovr")
    }


def test_the_verdict_names_its_trades_and_the_leaderboard_what_each_trial_beats(noise):
    report = noise[3]
    statistics, lines = report.summary["statistics"], report.summary["leaderboard"]
    best = next(line for line in lines if line["best"])
    evidence = statistics["evidence"]
    assert evidence["trial"] == best["trial"] == report.summary["best_trial"]
    assert evidence["trades"] == best["trades"]
    assert evidence["active_days"] == int((report.returns[best["trial"]] != 0).sum())
    stated = f"{evidence['trades']:,} trades on {evidence['active_days']:,} days"
    assert stated in report.summary["verdict"]
    assert [s["benchmark"] for s in statistics["stepwise"]] == [BUY_AND_HOLD, BEST_BASELINE]
    for line in lines:
        expected = [s["benchmark"] for s in statistics["stepwise"] if line["trial"] in s["better"]]
        assert line["beats"] == expected

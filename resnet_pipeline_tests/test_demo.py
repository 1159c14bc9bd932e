"""The demo's own choices: its months, a run config the training job accepts, its summary, the
settings it records for scripts/ui.sh."""

import subprocess
from datetime import date

import dagster as dg
import pytest

from resnet_pipeline.artifacts import write_json_atomic
from resnet_pipeline.cli.demo import (
    DEFAULT_MONTHS,
    EXPERIMENT,
    NOISE,
    PLANTED,
    demo_environment,
    demo_months,
    main,
    recorded_demo_settings,
    write_demo_settings,
)
from resnet_pipeline.cli.demo_config import training_run_config
from resnet_pipeline.cli.demo_summary import print_summary, print_verdicts
from resnet_pipeline.experiments.experiment_file import experiment_path, load_experiment
from resnet_pipeline.layout import Layout
from resnet_pipeline.settings import load_settings
from resnet_pipeline_tests._pipeline import pipeline_defs
from resnet_pipeline_tests.conftest import REPO


def test_demo_months_cross_the_year():
    assert demo_months(date(2023, 11, 1), 3) == [
        date(2023, 11, 1),
        date(2023, 12, 1),
        date(2024, 1, 1),
    ]
    with pytest.raises(SystemExit, match="at least 2"):
        demo_months(date(2024, 1, 1), 1)


def _demo_experiment():
    env: dict[str, str] = {}
    demo_environment(env)
    settings = load_settings(env)
    path = experiment_path(REPO / "experiments", EXPERIMENT)
    return load_experiment(path, settings.symbols, settings.bybit_market)


def test_the_demo_s_main_job_runs_on_its_experiment_s_settings():
    variant = _demo_experiment().variants[0].config
    config = training_run_config([date(2024, 1, 1), date(2024, 3, 1)], variant)
    job = pipeline_defs().resolve_job_def("training_job")
    dg.validate_run_config(job, config)  # raises on a field the assets do not have
    model = config["ops"]["trained_model"]["config"]
    assert (model["epochs"], model["max_train_samples"], model["lr"], model["width"]) == (
        variant.train.epochs,
        variant.train.max_train_samples,
        variant.train.lr,
        variant.model.width,
    )
    assert config["ops"]["dataset_splits"]["config"] == {
        "start_month": "2024-01",
        "end_month": "2024-03",
        "window": variant.folds.window,
    }
    strategy = config["ops"]["backtest_report"]["config"]
    assert strategy["threshold"] == variant.strategy.threshold
    assert strategy["exit_confidence"] is variant.strategy.exit_confidence is None
    assert strategy["max_hold_minutes"] == variant.strategy.max_hold_minutes
    shorter = training_run_config([date(2024, 1, 1)], variant, epochs=2, train_samples=500)
    model = shorter["ops"]["trained_model"]["config"]
    assert (model["epochs"], model["patience"], model["max_train_samples"]) == (2, 2, 500)


def test_the_summary_says_why_a_signal_is_not_actionable(capsys):
    reason = "the newest candle (2024-03-31 23:59) closed 351,000.0 minutes ago"
    with dg.DagsterInstance.ephemeral() as instance:
        for symbol, metadata in (
            ("BTCUSDT", {"signal": "NOT ACTIONABLE", "reason": reason}),
            ("ETHUSDT", {"signal": "LONG", "confidence": 0.7}),
        ):
            instance.report_runless_asset_event(
                dg.AssetMaterialization("latest_signal", partition=symbol, metadata=metadata)
            )
        print_summary(instance, ["BTCUSDT", "ETHUSDT"])
    btc, eth = capsys.readouterr().out.split("== ETHUSDT ==")
    assert "NOT ACTIONABLE" in btc and f"why                        {reason}" in btc
    assert "LONG" in eth and "why" not in eth


def test_the_summary_does_not_show_a_flat_curve_s_zero_drawdown_as_a_figure(capsys):
    with dg.DagsterInstance.ephemeral() as instance:
        for symbol, trades in (("BTCUSDT", 0), ("ETHUSDT", 4)):
            metadata = {"trades": trades, "max_drawdown": 0.0 if not trades else 0.12}
            instance.report_runless_asset_event(
                dg.AssetMaterialization("backtest_report", partition=symbol, metadata=metadata)
            )
        print_summary(instance, ["BTCUSDT", "ETHUSDT"])
    btc, eth = capsys.readouterr().out.split("== ETHUSDT ==")
    assert "max drawdown               not defined (no trades)" in btc
    assert "Sharpe (annualized)        not defined (no trades)" in btc
    assert "max drawdown               12%" in eth and "not defined" not in eth


def test_the_summary_prints_the_figures_as_the_assets_show_them(capsys):
    with dg.DagsterInstance.ephemeral() as instance:
        metadata = {"trades": "0 trades", "total_return": "0%", "accuracy": "38.2%"}
        for asset in ("backtest_report", "test_metrics"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset, partition="BTCUSDT", metadata=metadata)
            )
        print_summary(instance, ["BTCUSDT"])
    out = capsys.readouterr().out
    assert "accuracy                   38.2%" in out and "total return               0%" in out
    assert "max drawdown               not defined (no trades)" in out


def test_the_demo_runs_a_planted_and_a_noise_symbol_through_its_shipped_experiment():
    env: dict[str, str] = {}
    demo_environment(env)
    settings = load_settings(env)
    assert settings.source == "synthetic" and settings.symbols == (PLANTED, NOISE)
    assert settings.planted_symbols == (PLANTED,)
    experiment = load_experiment(
        experiment_path(REPO / "experiments", EXPERIMENT), settings.symbols, settings.bybit_market
    )
    assert experiment.symbols == (PLANTED, NOISE) and len(experiment.variants) >= 2
    months = demo_months(settings.first_month, DEFAULT_MONTHS)
    assert set(experiment.months) <= set(months[2:])  # the first fold learns from two months
    chosen: dict[str, str] = {"RESNET_SYMBOLS": "BTCUSDT"}
    demo_environment(chosen)  # symbols chosen by the user: nothing planted behind their back
    assert "RESNET_PLANTED_SYMBOLS" not in chosen


def test_ui_sh_gets_the_demo_s_settings_but_the_user_s_own_variables_win(tmp_path):
    assert recorded_demo_settings(tmp_path, {}) == {}  # no demo here: ui.sh as before
    demo: dict[str, str] = {"RESNET_DATA_DIR": "/data/demo", "RESNET_EXECUTOR": "celery"}
    demo_environment(demo)
    write_demo_settings(tmp_path, demo)
    assert recorded_demo_settings(tmp_path, {}) == {
        "RESNET_SOURCE": "synthetic",
        "RESNET_FIRST_MONTH": "2024-04",
        "RESNET_SYMBOLS": f"{PLANTED},{NOISE}",
        "RESNET_PLANTED_SYMBOLS": PLANTED,
        "RESNET_DATA_DIR": "/data/demo",
    }  # how runs execute is not the instance's content: not recorded
    mine = {"RESNET_FIRST_MONTH": "2024-01", "RESNET_DATA_DIR": "/data/mine"}
    assert recorded_demo_settings(tmp_path, mine) == {
        "RESNET_SOURCE": "synthetic",
        "RESNET_SYMBOLS": f"{PLANTED},{NOISE}",
        "RESNET_PLANTED_SYMBOLS": PLANTED,
    }
    # the user's symbols: the demo's planted symbol is not among them, and is not planted
    assert recorded_demo_settings(tmp_path, {"RESNET_SYMBOLS": "BTCUSDT"}) == {
        "RESNET_SOURCE": "synthetic",
        "RESNET_FIRST_MONTH": "2024-04",
        "RESNET_DATA_DIR": "/data/demo",
    }


def test_print_env_gives_export_lines_bash_evals(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home with space"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("RESNET_SYMBOLS", raising=False)
    monkeypatch.setenv("RESNET_FIRST_MONTH", "2024-02")
    assert main(["--print-env"]) == 0
    assert capsys.readouterr().out == ""  # no demo in this DAGSTER_HOME
    write_demo_settings(home, {"RESNET_SYMBOLS": "A,B", "RESNET_DATA_DIR": "/d $x 'q'"})
    assert main(["--print-env"]) == 0
    lines = capsys.readouterr().out
    shell = f'{lines}\necho "$RESNET_SYMBOLS|$RESNET_DATA_DIR|$RESNET_FIRST_MONTH"'
    echoed = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    assert echoed.stdout == "A,B|/d $x 'q'|2024-02\n"


def _pooled(top: str, low: float) -> list[dict]:
    """The model's channels on the direction AUC, ``top`` first with the interval from
    ``low``, as an experiment report's summary stores them."""
    rows = [(top, 0.17, low), ("volume", 0.01, -0.02), ("close", 0.001, -0.01)]
    return [
        {"predictor": "model", "kind": "channel", "name": name, "metric": "direction_auc",
         "mean": mean, "low": lo, "high": mean + 0.1, "folds": 2, "rank": rank}
        for rank, (name, mean, lo) in enumerate(rows, start=1)
    ]  # fmt: skip


def test_the_summary_prints_each_symbol_s_verdict_its_market_and_the_known_answer(capsys, tmp_path):
    layout = Layout.at(tmp_path)
    answers = {PLANTED: ("volume_ratio", 0.07), NOISE: ("atr_14", 0.002)}
    with dg.DagsterInstance.ephemeral() as instance:
        for symbol, (top, low) in answers.items():
            line = f"window-48's model looks at {top} first"
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    "experiment_report",
                    partition=f"{EXPERIMENT}:{symbol}",
                    metadata={"verdict": "edge after 2 trials at 95%", "looks_at": line},
                )
            )
            summary = {"importance": {"pooled": _pooled(top, low)}}
            write_json_atomic(layout.experiment(EXPERIMENT, symbol).report.summary, summary)
        print_verdicts(instance, layout, EXPERIMENT, [PLANTED, NOISE, "OTHER"], [PLANTED])
    out = capsys.readouterr().out
    assert f"{PLANTED} (planted pattern): edge after 2 trials at 95%" in out
    assert "window-48's model looks at volume_ratio first" in out
    assert "known answer (a volume channel first, its interval above 0): met" in out
    assert "known answer (no channel above 0): ['atr_14'] have intervals above 0" in out
    assert "OTHER (pure noise): no report" in out

"""The documented CLI examples (docs/ui-and-cli.md), for real: `dagster asset materialize` in
subprocesses."""

import json
from pathlib import Path

import pytest

from resnet_pipeline.commands import launch
from resnet_pipeline_tests.conftest import run_cli
from resnet_pipeline_tests.test_ingestion_cli import run_command

pytestmark = pytest.mark.slow

MODULE = ["-m", "resnet_pipeline.definitions"]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def _materialize(select: str, partition: str, env, cwd, config: dict | None = None):
    args = ["asset", "materialize", *MODULE, "--select", select, "--partition", partition]
    return run_cli([*args, "--config-json", json.dumps(IN_PROCESS | (config or {}))], env, cwd)


def test_symbol_month_then_symbol_chain_from_the_cli(cli_env, tmp_path: Path):
    run = _materialize("raw_candles,features,labels", "2024-01-01|ETHUSDT", cli_env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    data = tmp_path / "data"
    for asset in ("raw_candles", "features", "labels"):
        assert (data / asset / "symbol=ETHUSDT" / "month=2024-01.parquet").exists()

    quick = {
        "ops": {
            "dataset_splits": {"config": {"window": 64}},  # a quarter of the default's work
            "trained_model": {
                "config": {"epochs": 1, "max_train_samples": 128, "max_val_samples": 128}
            },
        }
    }
    chain = "dataset_splits,trained_model,test_metrics,backtest_report,latest_signal"
    run = _materialize(chain, "ETHUSDT", cli_env, tmp_path, quick)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (data / "reports" / "ETHUSDT" / "report.html").exists()
    assert "epoch 1/1" in run.stderr  # training progress is in the run log


def test_errors_say_what_to_run_next(cli_env, tmp_path: Path):
    run = _materialize("trained_model", "BTCUSDT", cli_env, tmp_path)
    assert run.returncode != 0
    assert "--select dataset_splits --partition BTCUSDT" in run.stderr
    run = _materialize("features", "2024-02-01|BTCUSDT", cli_env, tmp_path)
    assert run.returncode != 0
    assert "raw_candles 2024-02-01|BTCUSDT is not materialized" in run.stderr
    # the dg form runs the same code location and says the same
    run = run_command(launch("trained_model", "BTCUSDT"), cli_env, tmp_path)
    assert run.returncode != 0
    assert "--select dataset_splits --partition BTCUSDT" in run.stderr

"""The CLI for real: a subprocess with its own DAGSTER_HOME and data root, synthetic source."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests.conftest import run_cli


@pytest.mark.slow
def test_validate_and_materialize_a_partition(cli_env: dict[str, str], tmp_path: Path) -> None:
    validate = run_cli(
        ["definitions", "validate", "-m", "resnet_pipeline.definitions"], cli_env, tmp_path
    )
    assert validate.returncode == 0, validate.stderr[-3000:]

    args = ["asset", "materialize", "-m", "resnet_pipeline.definitions", "--select", "raw_candles"]
    run = run_cli([*args, "--partition", "2024-01-01|BTCUSDT"], cli_env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RUN_SUCCESS" in run.stderr + run.stdout
    stored = read_parquet(tmp_path / "data/raw_candles/symbol=BTCUSDT/month=2024-01.parquet")
    assert len(stored) == 44_640

"""The CLI for real: a subprocess with its own DAGSTER_HOME and data root, synthetic source,
in both forms Dagster 1.13 accepts (`dagster asset materialize` and `dg launch`), each built
by ``commands`` as error messages and the README spell them."""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from resnet_pipeline.commands import launch, materialize, month_key
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests.conftest import run_cli

BIN = Path(sys.executable).parent


def run_command(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command as ``commands`` spells it, run with this environment's executables."""
    program, *args = shlex.split(command)
    return subprocess.run(
        [str(BIN / program), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


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


@pytest.mark.slow
@pytest.mark.parametrize("form", [materialize, launch], ids=["dagster", "dg"])
def test_both_cli_forms_materialize_a_partition(form, cli_env, tmp_path: Path) -> None:
    command = form("raw_candles", month_key("BTCUSDT", date(2024, 2, 1)))
    run = run_command(command, cli_env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RUN_SUCCESS" in run.stderr + run.stdout
    stored = read_parquet(tmp_path / "data/raw_candles/symbol=BTCUSDT/month=2024-02.parquet")
    assert len(stored) == 29 * 1440
    superseded = "dg launch" in run.stderr and "SupersessionWarning" in run.stderr
    assert superseded == (form is materialize)  # the dg form is the one Dagster asks for

"""The CLI for real: a subprocess with its own DAGSTER_HOME and data root, synthetic source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_pipeline.storage import read_parquet

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "BYBIT_"))}
    env.update(
        DAGSTER_HOME=str(home),
        RESNET_SOURCE="synthetic",
        RESNET_DATA_DIR=str(tmp_path / "data"),
        RESNET_SYMBOLS="BTCUSDT,ETHUSDT",
        RESNET_FIRST_MONTH="2024-01",
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DAGSTER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_validate_and_materialize_a_partition(cli_env: dict[str, str], tmp_path: Path) -> None:
    validate = _run(
        ["definitions", "validate", "-m", "resnet_pipeline.definitions"], cli_env, tmp_path
    )
    assert validate.returncode == 0, validate.stderr[-3000:]

    args = ["asset", "materialize", "-m", "resnet_pipeline.definitions", "--select", "raw_candles"]
    run = _run([*args, "--partition", "2024-01-01|BTCUSDT"], cli_env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RUN_SUCCESS" in run.stderr + run.stdout
    stored = read_parquet(tmp_path / "data/raw_candles/symbol=BTCUSDT/month=2024-01.parquet")
    assert len(stored) == 44_640

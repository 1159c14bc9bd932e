"""Fixtures shared across test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a `dagster` CLI subprocess: own DAGSTER_HOME and data root, offline."""
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


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DAGSTER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )

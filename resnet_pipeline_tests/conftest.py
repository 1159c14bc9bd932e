"""Fixtures shared across test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline_tests._concurrent_writers import WAIT

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.fixture
def threads() -> Iterator[None]:
    """Torch's thread count restored after a test that trains with another one (it is
    process-wide and would carry into the next test)."""
    import torch  # only the tests that train pay for it

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


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


@dataclass
class HeldFetch:
    """A candle source whose fetch waits until the test releases it: a run caught mid-step.

    ``entered`` is set when a fetch starts, ``release`` lets every waiting fetch go on.
    """

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def source(self) -> HeldCandleSource:
        return HeldCandleSource()


_HELD = HeldFetch()  # module state: the resource is rebuilt by Dagster and cannot carry events


class _HeldSource(SyntheticSource):
    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        _HELD.entered.set()
        if not _HELD.release.wait(WAIT):
            raise TimeoutError("the test never released the held fetch")
        return super().fetch(symbol, start, end)


class HeldCandleSource(SyntheticCandles):
    """The synthetic market behind ``held_fetch``: its fetches wait for ``release``."""

    def build(self) -> SyntheticSource:
        return _HeldSource(seed=self.seed)


@pytest.fixture
def held_fetch() -> Iterator[HeldFetch]:
    """The held candle source, reset for this test; released at the end whatever happened."""
    _HELD.entered.clear()
    _HELD.release.clear()
    yield _HELD
    _HELD.release.set()

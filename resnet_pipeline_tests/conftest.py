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
import torch

from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline_tests._concurrent_writers import WAIT

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist the modules that start processes go first, the servers' (marked
    scale, the longest) before the others marked slow: with `--dist loadfile` (pyproject) each
    module runs whole on one worker, so its module-scoped fixtures (an end-to-end run, a
    server) are built once, and the long modules start first while the short ones fill in at
    the end on whichever worker is free. Plain runs keep the file order."""
    if XDIST_WORKERS > 1:

        def modules(marker: str) -> set[str]:
            return {item.module.__name__ for item in items if item.get_closest_marker(marker)}

        scale, slow = modules("scale"), modules("slow")
        items.sort(
            key=lambda item: (item.module.__name__ not in scale, item.module.__name__ not in slow)
        )


def _worker_share_of_the_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) // XDIST_WORKERS)


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker computes with its share of the cores, and so do the processes its
    tests start (dagster CLI runs, Celery workers, code servers): OMP_NUM_THREADS is torch's
    default thread count there. torch's own default, every core in every worker, puts two
    threads on each core, and a computation whose sibling thread waits for a busy core runs
    about twenty times slower (test_training_loop: 8 s alone, 150 s beside one busy process).
    A thread count the user set is kept."""
    if XDIST_WORKERS > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(_worker_share_of_the_cores()))


@pytest.fixture(autouse=True)
def _threads_of_this_worker() -> None:
    """Every test starts with the worker's share (see pytest_configure): a training sets the
    process's thread count and keeps it after the test. A test or training that sets its own
    count still does."""
    if XDIST_WORKERS > 1:
        torch.set_num_threads(_worker_share_of_the_cores())


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

"""Two writers of one partition never lose each other's rows (issue 11, item 3).

Real writers: threads and processes through ``write_merged_parquet``, and two real Dagster runs
of ``raw_candles`` through the IO manager, interleaved with events (no sleeps).
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline.layout import Layout
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.storage import (
    partition_lock,
    read_parquet,
    write_merged_parquet,
    write_parquet_atomic,
)
from resnet_pipeline_tests._concurrent_writers import WAIT, minutes, write_after_barrier
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import pipeline_resources
from resnet_pipeline_tests.conftest import HeldFetch

raw_candles = asset("raw_candles")

JAN = date(2024, 1, 1)


def test_threads_writing_one_partition_at_once_keep_every_row(tmp_path: Path) -> None:
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", JAN)
    writers = 8
    for _ in range(3):
        barrier = threading.Barrier(writers)
        threads = [
            threading.Thread(target=write_after_barrier, args=(str(path), barrier, w))
            for w in range(writers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        stored = read_parquet(path)
        assert len(stored) == writers * 100
        assert stored["timestamp"].is_unique and stored["timestamp"].is_monotonic_increasing
        assert stored.groupby("writer").size().to_dict() == {w: 100 for w in range(writers)}
        path.unlink()


def test_processes_writing_one_partition_at_once_keep_every_row(tmp_path: Path) -> None:
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", JAN)
    ctx = multiprocessing.get_context("spawn")
    writers = 3
    barrier = ctx.Barrier(writers)
    procs = [
        ctx.Process(target=write_after_barrier, args=(str(path), barrier, w))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(WAIT)
    assert [p.exitcode for p in procs] == [0] * writers
    stored = read_parquet(path)
    assert stored.groupby("writer").size().to_dict() == {w: 100 for w in range(writers)}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_lock_is_exclusive_and_a_waiting_writer_merges_what_the_holder_wrote(
    tmp_path: Path,
) -> None:
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", JAN)
    lock_file = Path(str(path.path)).with_name(f".{path.name}.lock")
    outcome: dict[str, object] = {}
    started = threading.Event()

    def late_writer() -> None:
        started.set()
        outcome["written"], outcome["kept"] = write_merged_parquet(
            minutes(0, 10, writer=1), path, "timestamp"
        )

    with partition_lock(path):
        # another open file description cannot take it: the lock is real, across processes too
        fd = os.open(lock_file, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        thread = threading.Thread(target=late_writer)
        thread.start()
        assert started.wait(WAIT)
        # the holder stores rows the late writer never read; it is blocked until we release
        write_parquet_atomic(minutes(10, 5, writer=0), path)
        assert thread.is_alive()
    thread.join(WAIT)
    stored = read_parquet(path)
    assert stored.groupby("writer").size().to_dict() == {0: 5, 1: 10}
    assert outcome["kept"] == 5


# -- the reported race, through Dagster: a slow run with an earlier as_of finishes last --------


def test_a_slow_run_with_an_earlier_as_of_no_longer_shrinks_the_month(
    tmp_path: Path, held_fetch: HeldFetch
) -> None:
    key = "2024-01-01|BTCUSDT"
    slow_result: dict[str, dg.ExecuteInProcessResult] = {}

    def slow_run() -> None:
        with dg.DagsterInstance.ephemeral() as instance:  # created and closed in this thread
            slow_result["run"] = dg.materialize(
                [raw_candles],
                partition_key=key,
                resources=pipeline_resources(tmp_path, held_fetch.source()),
                run_config={"ops": {"raw_candles": {"config": {"as_of": "2024-01-20T00:00:00Z"}}}},
                instance=instance,
            )

    thread = threading.Thread(target=slow_run)
    thread.start()
    try:
        # the slow run has read the stored month (nothing) and waits
        assert held_fetch.entered.wait(WAIT)
        normal = dg.materialize(
            [raw_candles],
            partition_key=key,
            resources=pipeline_resources(tmp_path, SyntheticCandles()),
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert normal.success
        path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", JAN)
        assert len(read_parquet(path)) == 44_640
    finally:
        held_fetch.release.set()
        thread.join(WAIT)
    slow = slow_result["run"]
    assert slow.success
    stored = read_parquet(path)
    assert len(stored) == 44_640  # before: 27,360 (the slow run's 19 days replaced the month)
    assert stored["timestamp"].is_unique and stored["timestamp"].is_monotonic_increasing
    metadata = slow.asset_materializations_for_node("raw_candles")[0].metadata
    assert metadata["dagster/row_count"].value == 27_360
    assert metadata["stored_rows"].value == 44_640
    assert metadata["rows_kept_from_store"].value == 44_640 - 27_360

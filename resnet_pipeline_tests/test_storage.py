import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.artifacts import STALE_TEMP_SECONDS, remove_stale_temps, temp_path_for
from resnet_pipeline.layout import Layout
from resnet_pipeline.storage import (
    merge_rows,
    read_parquet,
    read_partitions,
    stored_months,
    write_merged_parquet,
    write_parquet_atomic,
)


def _frame(start: str, n: int) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "close": [float(i) for i in range(n)]})


def test_layout_is_hive_style(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 3, 1))
    assert str(path.path).endswith("raw_candles/symbol=BTCUSDT/month=2024-03.parquet")


def test_atomic_write_round_trips_and_leaves_no_temp_files(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    df = _frame("2024-01-01", 5)
    write_parquet_atomic(df, path)
    pd.testing.assert_frame_equal(read_parquet(path), df)
    assert [p.name for p in path.parent.iterdir()] == ["month=2024-01.parquet"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    write_parquet_atomic(_frame("2024-01-01", 3), path)
    before = path.read_bytes()
    with pytest.raises(pa.ArrowException):  # an object column pyarrow cannot convert
        write_parquet_atomic(pd.DataFrame({"timestamp": [object()]}), path)
    assert path.read_bytes() == before
    assert len(list(path.parent.iterdir())) == 1


def test_read_partitions_orders_by_time_and_skips_missing_months(tmp_path):
    write_parquet_atomic(
        _frame("2024-02-01", 3), Layout.at(tmp_path).partition("f", "X", date(2024, 2, 1))
    )
    write_parquet_atomic(
        _frame("2024-01-01", 2), Layout.at(tmp_path).partition("f", "X", date(2024, 1, 1))
    )
    months = [date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]
    out = read_partitions(Layout.at(tmp_path), "f", "X", months)
    assert len(out) == 5
    assert out["timestamp"].is_monotonic_increasing
    assert stored_months(Layout.at(tmp_path), "f", "X") == [date(2024, 1, 1), date(2024, 2, 1)]
    assert read_partitions(Layout.at(tmp_path), "f", "Y", months).empty


def test_read_partitions_keeps_utc_and_nullable_integers(tmp_path):
    df = _frame("2024-01-01", 3).assign(label=pd.array([1, None, 2], dtype="Int8"))
    write_parquet_atomic(df, Layout.at(tmp_path).partition("labels", "X", date(2024, 1, 1)))
    out = read_partitions(Layout.at(tmp_path), "labels", "X", [date(2024, 1, 1)])
    assert str(out["timestamp"].dt.tz) == "UTC"
    assert out["label"].dtype == pd.Int8Dtype()
    assert out["label"].isna().tolist() == [False, True, False]


# -- temp files of dead writers (issue 11, item 8) ---------------------------------------------


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped), so it is free on this host."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_names_are_unique_and_name_their_writer(tmp_path):
    target = tmp_path / "month=2024-01.parquet"
    first, second = temp_path_for(target), temp_path_for(target)
    assert first != second and first.parent == target.parent
    assert first.name.startswith(".month=2024-01.parquet.") and first.name.endswith(".tmp")
    assert f".{os.getpid()}." in first.name


def test_a_write_removes_the_temp_files_of_dead_writers_only(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    folder = Path(str(path.path)).parent
    folder.mkdir(parents=True)
    target = Path(str(path.path))
    dead = temp_path_for(target).with_name(
        temp_path_for(target).name.replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    )
    live = temp_path_for(target)  # this process: a writer still at work
    ancient = target.with_name(f".{target.name}.otherhost.1.{'0' * 32}.tmp")  # another host
    legacy = target.with_name(f".{target.name}.{'a' * 32}.tmp")  # the old name, no pid
    for tmp in (dead, live, ancient, legacy):
        tmp.write_bytes(b"half a parquet file")
    old = time.time() - STALE_TEMP_SECONDS - 60
    for tmp in (ancient, legacy):
        os.utime(tmp, (old, old))
    fresh_other_host = target.with_name(f".{target.name}.otherhost.1.{'1' * 32}.tmp")
    fresh_other_host.write_bytes(b"in progress elsewhere")

    write_parquet_atomic(_frame("2024-01-01", 3), path)

    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted([target.name, live.name, fresh_other_host.name])
    assert remove_stale_temps(target) == []  # nothing else is stale


# -- merge at write time (issue 11, item 3) ----------------------------------------------------

_MINUTE_SETS = st.sets(st.integers(min_value=0, max_value=500), max_size=60)


def _rows(minutes: set[int], value: float) -> pd.DataFrame:
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(sorted(minutes), unit="min")
    return pd.DataFrame({"timestamp": ts, "close": [value] * len(ts)})


@settings(max_examples=60, deadline=None)
@given(stored=_MINUTE_SETS, new=_MINUTE_SETS)
def test_merge_at_write_never_drops_a_stored_row(stored, new):
    merged = merge_rows(_rows(stored, 1.0) if stored else None, _rows(new, 2.0), "timestamp")
    minutes = (merged["timestamp"] - pd.Timestamp("2024-01-01", tz="UTC")) // pd.Timedelta("1min")
    assert set(minutes) == stored | new  # every stored row and every new row, nothing else
    assert merged["timestamp"].is_unique and merged["timestamp"].is_monotonic_increasing
    by_minute = dict(zip(minutes, merged["close"], strict=True))
    assert all(by_minute[m] == 2.0 for m in new)  # a re-fetched row replaces the stored one
    assert all(by_minute[m] == 1.0 for m in stored - new)


def test_merged_write_keeps_rows_stored_after_the_writer_read(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    write_parquet_atomic(_frame("2024-01-01", 10), path)  # another run stored 10 minutes
    written, kept = write_merged_parquet(_frame("2024-01-01", 4), path, "timestamp")
    assert len(read_parquet(path)) == len(written) == 10 and kept == 6


def test_merged_write_refuses_a_stored_file_it_cannot_read_and_leaves_it(tmp_path):
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 truncated")
    with pytest.raises(ValueError, match="Delete it and re-materialize") as error:
        write_merged_parquet(_frame("2024-01-01", 4), path, "timestamp")
    assert "month=2024-01.parquet" in str(error.value)
    assert path.read_bytes() == b"PAR1 truncated"
    other = _frame("2024-01-02", 2).rename(columns={"close": "open"})
    write_parquet_atomic(other, path)
    with pytest.raises(ValueError, match="stored columns"):
        write_merged_parquet(_frame("2024-01-01", 4), path, "timestamp")
    pd.testing.assert_frame_equal(read_parquet(path), other)


def test_merged_write_on_an_object_store_url_keeps_stored_rows():
    """fsspec's memory filesystem stands for s3://: no lock file, the same merge."""
    path = Layout.at("memory://bucket/root").partition("raw_candles", "BTCUSDT", date(2024, 1, 1))
    write_merged_parquet(_frame("2024-01-01 00:05", 5), path, "timestamp")
    written, kept = write_merged_parquet(_frame("2024-01-01", 5), path, "timestamp")
    assert len(read_parquet(path)) == len(written) == 10 and kept == 5
    assert [p.name for p in path.parent.iterdir()] == ["month=2024-01.parquet"]

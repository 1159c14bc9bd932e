from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from resnet_pipeline.storage import (
    partition_path,
    read_parquet,
    read_partitions,
    stored_months,
    write_parquet_atomic,
)


def _frame(start: str, n: int) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "close": [float(i) for i in range(n)]})


def test_layout_is_hive_style(tmp_path):
    path = partition_path(tmp_path, "raw_candles", "BTCUSDT", date(2024, 3, 1))
    assert str(path.path).endswith("raw_candles/symbol=BTCUSDT/month=2024-03.parquet")


def test_atomic_write_round_trips_and_leaves_no_temp_files(tmp_path):
    path = partition_path(tmp_path, "raw_candles", "BTCUSDT", date(2024, 1, 1))
    df = _frame("2024-01-01", 5)
    write_parquet_atomic(df, path)
    pd.testing.assert_frame_equal(read_parquet(path), df)
    assert [p.name for p in path.parent.iterdir()] == ["month=2024-01.parquet"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = partition_path(tmp_path, "raw_candles", "BTCUSDT", date(2024, 1, 1))
    write_parquet_atomic(_frame("2024-01-01", 3), path)
    before = path.read_bytes()
    with pytest.raises(pa.ArrowException):  # an object column pyarrow cannot convert
        write_parquet_atomic(pd.DataFrame({"timestamp": [object()]}), path)
    assert path.read_bytes() == before
    assert len(list(path.parent.iterdir())) == 1


def test_read_partitions_orders_by_time_and_skips_missing_months(tmp_path):
    write_parquet_atomic(
        _frame("2024-02-01", 3), partition_path(tmp_path, "f", "X", date(2024, 2, 1))
    )
    write_parquet_atomic(
        _frame("2024-01-01", 2), partition_path(tmp_path, "f", "X", date(2024, 1, 1))
    )
    months = [date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]
    out = read_partitions(tmp_path, "f", "X", months)
    assert len(out) == 5
    assert out["timestamp"].is_monotonic_increasing
    assert stored_months(tmp_path, "f", "X") == [date(2024, 1, 1), date(2024, 2, 1)]
    assert read_partitions(tmp_path, "f", "Y", months).empty


def test_read_partitions_keeps_utc_and_nullable_integers(tmp_path):
    df = _frame("2024-01-01", 3).assign(label=pd.array([1, None, 2], dtype="Int8"))
    write_parquet_atomic(df, partition_path(tmp_path, "labels", "X", date(2024, 1, 1)))
    out = read_partitions(tmp_path, "labels", "X", [date(2024, 1, 1)])
    assert str(out["timestamp"].dt.tz) == "UTC"
    assert out["label"].dtype == pd.Int8Dtype()
    assert out["label"].isna().tolist() == [False, True, False]

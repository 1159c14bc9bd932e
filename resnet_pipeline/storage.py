"""The Parquet layout and its reads and writes, shared by the IO manager and the assets.
Atomic writes and cached local copies come from ``artifacts.py`` (local or object storage).

Paths come from ``layout.Layout``: ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet`` (hive
style, so DuckDB's ``hive_partitioning`` reads ``symbol`` from the directory name).

Writers that may race on one file (two runs of one partition) use ``write_merged_parquet``:
under a per-file lock it merges with what is stored *at write time*, so no stored row is lost.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from resnet_pipeline.artifacts import (
    as_path,
    atomic_write_path,
    exists,
    fresh,
    is_local,
    local_copy,
)
from resnet_pipeline.layout import Layout, month_of_file

__all__ = [
    "CorruptPartitionError",
    "merge_rows",
    "partition_lock",
    "read_parquet",
    "read_partitions",
    "stored_months",
    "write_merged_parquet",
    "write_parquet_atomic",
]

# Integer columns keep pandas' nullable dtypes (a label column holds <NA>), as pyarrow's own
# Parquet reader does with the pandas metadata that DuckDB drops.
_NULLABLE_INTS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write to a temp file, then publish it in one step (``artifacts.atomic_write_path``):
    a crash never leaves a half file. Temp files of dead writers are removed on the way."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_write_path(path) as tmp:
        pq.write_table(table, tmp)


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


@contextmanager
def partition_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Exclusive access to one stored file for a read-merge-write, across processes.

    Local disk: ``flock`` on ``.<name>.lock`` beside the file (released by the kernel when its
    holder dies, so a killed writer never blocks the next). Object stores have no lock:
    there only writers in this process are serialized. This is the seam for a strict
    guarantee across machines: a conditional write (S3 ``If-Match`` on the ETag read, GCS
    ``ifGenerationMatch``) retried on conflict, or a lease object.
    """
    path = as_path(path)
    if is_local(path):
        target = Path(str(path.path))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target.with_name(f".{target.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
        return
    with _PROCESS_LOCKS_GUARD:
        lock = _PROCESS_LOCKS.setdefault(str(path), threading.Lock())
    with lock:
        yield


def merge_rows(stored: pd.DataFrame | None, new: pd.DataFrame, key: str) -> pd.DataFrame:
    """``new`` plus every stored row whose ``key`` is not in ``new``, sorted by ``key``.

    On a repeated key the new row wins (it was fetched later); no stored key is ever dropped.
    """
    if stored is None or stored.empty:
        return new.sort_values(key, kind="stable").reset_index(drop=True)
    if set(stored.columns) != set(new.columns):
        raise ValueError(
            f"stored columns {sorted(stored.columns)} differ from the new ones "
            f"{sorted(new.columns)}: the stored partition was written by other code"
        )
    kept = stored.loc[~stored[key].isin(new[key]), list(new.columns)]
    parts = [p for p in (kept, new) if len(p)]
    if not parts:  # both empty: keep the new frame's dtypes
        return new.reset_index(drop=True)
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return merged.sort_values(key, kind="stable").reset_index(drop=True)


def write_merged_parquet(
    df: pd.DataFrame, path: str | os.PathLike[str], key: str
) -> tuple[pd.DataFrame, int]:
    """Merge ``df`` with what is stored at ``path`` now, under its lock, and write atomically.

    Two runs of one partition can no longer overwrite each other's rows: the one that writes
    last keeps what the first stored. Returns what was written and how many stored rows it kept
    that ``df`` lacked.
    """
    path = as_path(path)
    with partition_lock(path):
        try:
            stored = read_parquet(path) if path.exists() else None
        except (OSError, pa.ArrowException) as error:
            raise ValueError(
                f"cannot merge into {path}: the stored file is unreadable ({error}). Delete it "
                "and re-materialize the partition; nothing was written"
            ) from error
        try:
            merged = merge_rows(stored, df, key)
        except ValueError as error:
            raise ValueError(
                f"cannot merge into {path}: {error}. Delete it and re-materialize the "
                "partition; nothing was written"
            ) from error
        write_parquet_atomic(merged, path)
    return merged, len(merged) - len(df)


class CorruptPartitionError(ValueError):
    """A stored file that cannot be read (truncated by a crash, overwritten by hand)."""


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One Parquet file; an unreadable one is named, with how to rebuild it."""
    path = as_path(path)
    try:
        with path.open("rb") as fh:
            return pq.read_table(fh).to_pandas()
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as error:
        raise CorruptPartitionError(
            f"{path} is unreadable ({type(error).__name__}: {error}): truncated or corrupt. "
            "Delete it and re-materialize its partition"
        ) from error


def read_partitions(
    layout: Layout,
    asset: str,
    symbol: str,
    months: Iterable[date],
    columns: str = "*",
) -> pd.DataFrame:
    """Concatenate the stored months of one symbol, ordered by timestamp, with in-memory DuckDB.

    Months without a file are skipped; the result may be empty (with no columns). Columns are
    matched by name, and a column some months lack (order flow, stored only where the source
    has it) is null in those months' rows.
    """
    stored = [layout.partition(asset, symbol, m) for m in months]
    # object storage: DuckDB reads cached local copies (no httpfs extension or credentials)
    files = [str(local_copy(f)) for f in stored if exists(f)]
    if not files:
        return pd.DataFrame()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        reader = con.sql(
            f"select {columns} from read_parquet($files, hive_partitioning=false,"
            " union_by_name=true) order by timestamp",
            params={"files": files},
        ).arrow()
        table = reader if isinstance(reader, pa.Table) else reader.read_all()
    except duckdb.Error as error:
        raise CorruptPartitionError(
            f"cannot read {asset} of {symbol} from {', '.join(files)}: {error}. Delete the "
            f"unreadable file and re-materialize its partition ({asset}, '<YYYY-MM-01>|{symbol}')"
        ) from error
    finally:
        con.close()
    df = table.to_pandas(types_mapper=_NULLABLE_INTS.get)
    if "timestamp" in df and isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype):
        df["timestamp"] = df["timestamp"].dt.tz_convert("UTC")
    return df


def stored_months(layout: Layout, asset: str, symbol: str) -> list[date]:
    """Months of one symbol that have a stored partition, ascending."""
    folder = fresh(layout.symbol_folder(asset, symbol))
    if not folder.exists():
        return []
    return sorted(m for m in (month_of_file(f.name) for f in folder.iterdir()) if m is not None)


# A day of candles before a backtest's first bar: the ATR(14) of its first bars is defined.
INDICATOR_WARMUP = pd.Timedelta(days=1)


def candles_around(
    layout: Layout,
    symbol: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
    warmup: pd.Timedelta = INDICATOR_WARMUP,
) -> pd.DataFrame:
    """Stored raw candles from ``first - warmup`` (indicator warm-up, e.g. the ATR of a
    backtest's first bars) to ``last``, in time order; empty when none are stored."""
    start = first - warmup
    months = [
        m
        for m in stored_months(layout, "raw_candles", symbol)
        if start.date().replace(day=1) <= m <= last.date()
    ]
    candles = read_partitions(layout, "raw_candles", symbol, months)
    if candles.empty:
        return candles
    return candles[candles["timestamp"] >= start].reset_index(drop=True)

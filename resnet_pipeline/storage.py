"""The on-disk layout and atomic Parquet writes, shared by the IO manager and the assets.

Layout (DESIGN.md): ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet`` (hive style, so
DuckDB's ``hive_partitioning`` reads ``symbol`` from the directory name).

Writers that may race on one file (two runs of one partition) use ``write_merged_parquet``:
under a per-file lock it merges with what is stored *at write time*, so no stored row is lost.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

# Integer columns keep pandas' nullable dtypes (a label column holds <NA>), as pyarrow's own
# Parquet reader does with the pandas metadata that DuckDB drops.
_NULLABLE_INTS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def as_path(root: str | os.PathLike[str]) -> UPath:
    """A local directory or an fsspec URL (s3://, gs://) as one path type."""
    return root if isinstance(root, UPath) else UPath(root)


def partition_path(root: str | os.PathLike[str], asset: str, symbol: str, month: date) -> UPath:
    return as_path(root) / asset / f"symbol={symbol}" / f"month={month:%Y-%m}.parquet"


# A temp file older than this belongs to a dead writer whatever its pid says (pids are reused,
# and a writer on another host cannot be asked): a Parquet partition is written in seconds.
STALE_TEMP_SECONDS = 6 * 3600
_HOST = socket.gethostname().replace(".", "-") or "host"


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def temp_path_for(target: Path) -> Path:
    """A temp name beside ``target``, unique per writer, naming its host and pid.

    ``.<name>.<host>.<pid>.<random>.tmp``: a later writer can tell a dead writer's leftover
    (``remove_stale_temps``) from a live writer's file in progress.
    """
    return target.with_name(f".{target.name}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: Path, max_age_seconds: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temp files of ``target`` left by writers that died (kill -9, power loss).

    A temp is stale when its writer's pid is gone on this host, or when it is older than
    ``max_age_seconds`` (another host's writer, or a reused pid). Returns what was removed.
    """
    prefix, removed = f".{target.name}.", []
    if not target.parent.is_dir():
        return removed
    now = time.time()
    for tmp in target.parent.glob(f"{prefix}*.tmp"):
        writer = tmp.name[len(prefix) : -len(".tmp")].rsplit(".", 2)
        if len(writer) != 3:  # not one of ours (or the legacy ``.<name>.<hex>.tmp``)
            host, pid = None, None
        else:
            host, pid = writer[0], int(writer[1]) if writer[1].isdigit() else None
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        dead_here = host == _HOST and pid is not None and not _pid_alive(pid)
        if dead_here or age > max_age_seconds:
            if tmp.is_dir():  # a dataset directory whose save was killed
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write to a temp file beside the target, then rename: a crash never leaves a half file.

    Temp files of writers that died before their rename are removed on the way.
    """
    path = as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    if is_local(path):
        target = Path(str(path.path))
        remove_stale_temps(target)
        tmp = temp_path_for(target)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:  # object stores: a single PUT is atomic
        with path.open("wb") as fh:
            pq.write_table(table, fh)


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
    root: str | os.PathLike[str],
    asset: str,
    symbol: str,
    months: Iterable[date],
    columns: str = "*",
) -> pd.DataFrame:
    """Concatenate the stored months of one symbol, ordered by timestamp, with in-memory DuckDB.

    Months without a file are skipped; the result may be empty (with no columns).
    """
    files = [partition_path(root, asset, symbol, m) for m in months]
    files = [
        str(f.path) if f.protocol in ("", "file", "local") else str(f) for f in files if f.exists()
    ]
    if not files:
        return pd.DataFrame()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        reader = con.sql(
            f"select {columns} from read_parquet($files, hive_partitioning=false)"
            " order by timestamp",
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


def stored_months(root: str | os.PathLike[str], asset: str, symbol: str) -> list[date]:
    """Months of one symbol that have a stored partition, ascending."""
    folder = as_path(root) / asset / f"symbol={symbol}"
    if not folder.exists():
        return []
    months = []
    for f in folder.iterdir():
        name = f.name
        if name.startswith("month=") and name.endswith(".parquet"):
            months.append(date.fromisoformat(name[len("month=") : -len(".parquet")] + "-01"))
    return sorted(months)

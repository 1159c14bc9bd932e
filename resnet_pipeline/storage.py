"""The on-disk layout and atomic Parquet writes, shared by the IO manager and the assets.

Layout (DESIGN.md): ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet`` (hive style, so
DuckDB's ``hive_partitioning`` reads ``symbol`` from the directory name).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
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


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write to a temp file beside the target, then rename: a crash never leaves a half file."""
    path = as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    if path.protocol in ("", "file", "local"):
        tmp = Path(str(path.path)).with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path.path)
        finally:
            tmp.unlink(missing_ok=True)
    else:  # object stores: a single PUT is atomic
        with path.open("wb") as fh:
            pq.write_table(table, fh)


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    path = as_path(path)
    with path.open("rb") as fh:
        return pq.read_table(fh).to_pandas()


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

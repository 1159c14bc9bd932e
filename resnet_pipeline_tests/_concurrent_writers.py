"""Writer processes for test_concurrent_writes: a light module, so spawned children import
only the storage layer (not Dagster and every asset)."""

from __future__ import annotations

import pandas as pd

from resnet_pipeline.storage import write_merged_parquet

WAIT = 120  # seconds: a bound on a synchronization wait, never a synchronization itself


def minutes(first: int, count: int, writer: int) -> pd.DataFrame:
    """``count`` one-minute rows from 2024-01-01 + ``first`` minutes, tagged with ``writer``."""
    ts = pd.date_range("2024-01-01", periods=first + count, freq="1min", tz="UTC")[first:]
    return pd.DataFrame({"timestamp": ts, "close": float(writer), "writer": writer})


def write_after_barrier(path: str, barrier, writer: int) -> None:
    """Wait until every writer is ready, then merge 100 rows of its own into ``path``."""
    barrier.wait(WAIT)
    write_merged_parquet(minutes(writer * 100, 100, writer), path, "timestamp")

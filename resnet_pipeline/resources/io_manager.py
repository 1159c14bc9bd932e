"""Parquet IO manager for the symbol x month assets, on Dagster's UPathIOManager."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from resnet_pipeline.artifacts import as_path
from resnet_pipeline.executors import executor_name
from resnet_pipeline.layout import Layout, partition_name
from resnet_pipeline.partitions import MONTH_DIM, split_key
from resnet_pipeline.run_liveness import bind_step
from resnet_pipeline.settings import require_writable_root
from resnet_pipeline.storage import (
    read_parquet,
    write_merged_parquet,
    write_parquet_atomic,
)

# Asset metadata naming the column on which a write merges with what is stored at write time
# (under the file's lock) instead of replacing it: ``metadata={MERGE_ON_WRITE: "timestamp"}``.
MERGE_ON_WRITE = "merge_on_write"


class MonthlyParquetIOManager(dg.UPathIOManager):
    """Stores each symbol-month partition at ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet``.

    Inputs whose metadata sets ``by_month`` always arrive as ``{month_start: DataFrame}``,
    ascending by month, holding only the partitions that exist: Dagster otherwise gives a dict
    for several partitions and a bare value for one, in no particular order.

    Outputs whose metadata sets ``merge_on_write`` are merged with the stored partition at
    write time, under its lock: a run that read the partition earlier never drops rows
    another run stored meanwhile.
    """

    extension = ".parquet"

    def get_path_for_partition(
        self, context: dg.InputContext | dg.OutputContext, path: UPath, partition: str
    ) -> UPath:
        month, symbol = partition.split("/")  # dimensions in name order: month, symbol
        return path / partition_name(*split_key(f"{month}|{symbol}"))

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        key = (context.definition_metadata or {}).get(MERGE_ON_WRITE)
        if not key:
            write_parquet_atomic(obj, path)
            return
        written, kept = write_merged_parquet(obj, path, key)
        context.add_output_metadata({"stored_rows": len(written), "rows_kept_from_store": kept})

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        return read_parquet(path)

    def load_input(self, context: dg.InputContext) -> Any:
        if not (context.definition_metadata or {}).get("by_month"):
            return super().load_input(context)
        found: dict[str, pd.DataFrame] = {}
        for key, path in self._get_paths_for_partitions(context).items():
            if path.exists():
                month = (
                    key.keys_by_dimension[MONTH_DIM]
                    if isinstance(key, dg.MultiPartitionKey)
                    else key
                )
                found[str(month)] = self.load_from_path(context, path)
        return dict(sorted(found.items()))


class DataStore(dg.ConfigurableResource):
    """The data root, for assets that read ranges with DuckDB or write models and reports.
    A local root is created and checked for writing when a run starts (not when the
    definitions load). A step that uses it is bound to its run first (``run_liveness``)."""

    root: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        bind_step(context.run, executor_name())
        require_writable_root(self.root)

    @property
    def path(self) -> UPath:
        return as_path(self.root)

    @property
    def layout(self) -> Layout:
        return Layout(self.path)


class MonthlyParquetIOManagerFactory(dg.ConfigurableIOManagerFactory):
    """The monthly Parquet IO manager, rooted where the ``DataStore`` is.

    Give it ``store`` (the same ``DataStore`` the assets use: one root, so the IO manager and
    the assets can never disagree on where data lives), or a bare ``root`` where no store
    exists (small tests). Both at once is refused unless they name the same root.
    """

    store: DataStore | None = None
    root: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> MonthlyParquetIOManager:
        return MonthlyParquetIOManager(base_path=self.root_path())

    def root_path(self) -> UPath:
        if self.store is None and self.root is None:
            raise ValueError(
                "MonthlyParquetIOManagerFactory needs the data root: pass store=DataStore(...) "
                "(the definitions do, from RESNET_DATA_DIR)"
            )
        if self.store is not None and self.root is not None and self.store.root != self.root:
            raise ValueError(
                f"MonthlyParquetIOManagerFactory got root={self.root!r} and a store rooted at "
                f"{self.store.root!r}: two storage roots would diverge; pass only store="
            )
        return self.store.path if self.store is not None else as_path(self.root)

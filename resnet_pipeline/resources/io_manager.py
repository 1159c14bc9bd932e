"""Parquet IO manager for the symbol x month assets, on Dagster's UPathIOManager."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from resnet_pipeline.partitions import MONTH_DIM
from resnet_pipeline.storage import as_path, read_parquet, write_parquet_atomic


class MonthlyParquetIOManager(dg.UPathIOManager):
    """Stores each symbol-month partition at ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet``.

    Inputs whose metadata sets ``by_month`` always arrive as ``{month_start: DataFrame}``,
    ascending by month, holding only the partitions that exist: Dagster otherwise gives a dict
    for several partitions and a bare value for one, in no particular order.
    """

    extension = ".parquet"

    def get_path_for_partition(
        self, context: dg.InputContext | dg.OutputContext, path: UPath, partition: str
    ) -> UPath:
        month, symbol = partition.split("/")  # dimensions in name order: month, symbol
        return path / f"symbol={symbol}" / f"month={month[:7]}"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        write_parquet_atomic(obj, path)

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


class MonthlyParquetIOManagerFactory(dg.ConfigurableIOManagerFactory):
    """Configurable root (local directory or fsspec URL) for the monthly Parquet IO manager."""

    root: str

    def create_io_manager(self, context: dg.InitResourceContext) -> MonthlyParquetIOManager:
        return MonthlyParquetIOManager(base_path=as_path(self.root))


class DataStore(dg.ConfigurableResource):
    """The data root, for assets that read ranges with DuckDB or write models and reports."""

    root: str

    @property
    def path(self) -> UPath:
        return as_path(self.root)

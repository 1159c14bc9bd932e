"""The monthly Parquet IO manager under a real Dagster run: layout and the by_month input."""

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from resnet_pipeline.commands import month_key
from resnet_pipeline.layout import Layout
from resnet_pipeline.partitions import split_key, symbol_month_partitions
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline.settings import load_settings
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests._pipeline import asset

raw_candles = asset("raw_candles")

PARTS = symbol_month_partitions(load_settings({}))
PREVIOUS_AND_CURRENT = dg.MultiPartitionMapping(
    {
        "month": dg.DimensionPartitionMapping(
            "month",
            dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True
            ),
        ),
        "symbol": dg.DimensionPartitionMapping("symbol", dg.IdentityPartitionMapping()),
    }
)


@dg.asset(partitions_def=PARTS)
def upstream(context: dg.AssetExecutionContext) -> pd.DataFrame:
    symbol, month = split_key(context.partition_key)
    return pd.DataFrame({"symbol": [symbol], "month": [month.isoformat()]})


@dg.asset(
    partitions_def=PARTS,
    ins={
        "upstream": dg.AssetIn(partition_mapping=PREVIOUS_AND_CURRENT, metadata={"by_month": True})
    },
)
def downstream(upstream: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame({"months_seen": [",".join(upstream)]})


def _run(selection, key, tmp_path, instance):
    return dg.materialize(
        [upstream, downstream],
        selection=selection,
        partition_key=key,
        resources={"io_manager": MonthlyParquetIOManagerFactory(root=str(tmp_path))},
        instance=instance,
    )


def test_partitions_are_stored_in_hive_layout(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    assert _run([upstream], "2024-02-01|ETHUSDT", tmp_path, instance).success
    stored = read_parquet(Layout.at(tmp_path).partition("upstream", "ETHUSDT", date(2024, 2, 1)))
    assert stored.to_dict("records") == [{"symbol": "ETHUSDT", "month": "2024-02-01"}]


def test_by_month_input_is_a_sorted_dict_of_existing_partitions(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    # First month: no previous partition exists at all -> still a dict, one entry.
    _run([upstream], "2024-01-01|BTCUSDT", tmp_path, instance)
    _run([downstream], "2024-01-01|BTCUSDT", tmp_path, instance)
    first = read_parquet(Layout.at(tmp_path).partition("downstream", "BTCUSDT", date(2024, 1, 1)))
    assert first["months_seen"].item() == "2024-01-01"

    _run([upstream], month_key("BTCUSDT", date(2024, 2, 1)), tmp_path, instance)
    result = _run([downstream], "2024-02-01|BTCUSDT", tmp_path, instance)
    assert result.success
    second = read_parquet(Layout.at(tmp_path).partition("downstream", "BTCUSDT", date(2024, 2, 1)))
    assert second["months_seen"].item() == "2024-01-01,2024-02-01"


def test_split_key_round_trips():
    assert split_key("2024-03-01|ETHUSDT") == ("ETHUSDT", date(2024, 3, 1))
    assert month_key("ETHUSDT", date(2024, 3, 1)) == "2024-03-01|ETHUSDT"
    key = dg.MultiPartitionKey({"month": "2024-03-01", "symbol": "ETHUSDT"})
    assert split_key(key) == ("ETHUSDT", date(2024, 3, 1))
    assert str(key) == "2024-03-01|ETHUSDT"


# -- one storage root (issue 10) ---------------------------------------------------------------


def test_definitions_derive_the_io_manager_from_the_data_store(tmp_path):
    """One setting, one root: the IO manager is built on the store the assets use."""
    from resnet_pipeline.definitions import build_resources
    from resnet_pipeline_tests._pipeline import pipeline_defs

    defs = pipeline_defs()
    assert defs.resources["io_manager"].store is defs.resources["store"]
    resources = build_resources(
        load_settings({"RESNET_DATA_DIR": str(tmp_path / "root"), "RESNET_SOURCE": "synthetic"})
    )
    assert resources["io_manager"].store is resources["store"]
    result = dg.materialize(
        [raw_candles],
        partition_key="2024-01-01|ETHUSDT",
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    # written by the IO manager where the DataStore (and every DuckDB reader) looks for it
    stored = Layout.at(resources["store"].path).partition(
        "raw_candles", "ETHUSDT", date(2024, 1, 1)
    )
    assert len(read_parquet(stored)) == 44_640


def test_two_different_roots_are_refused():
    store = DataStore(root="/data/a")
    assert str(MonthlyParquetIOManagerFactory(store=store).root_path()) == "/data/a"
    assert str(MonthlyParquetIOManagerFactory(store=store, root="/data/a").root_path()) == "/data/a"
    with pytest.raises(ValueError, match="two storage roots would diverge"):
        MonthlyParquetIOManagerFactory(store=store, root="/data/b").root_path()
    with pytest.raises(ValueError, match="pass store=DataStore"):
        MonthlyParquetIOManagerFactory().root_path()
